//! Text augmentation on words, before tokenisation: EDA's four operations (Wei
//! and Zou 2019: synonym replacement, random insertion, random swap, random
//! deletion) and sentence shuffling.
//!
//! A text is split at whitespace into words; punctuation stays attached to its
//! word and travels with it (a replaced word keeps its punctuation and its
//! capital). Protected words ([`AugmentConfig::protected`], negations by default,
//! and every word ending in `n't`) are never replaced, deleted or swapped, and
//! never get a synonym inserted. Synonyms come from a table built from WordNet
//! 3.0 ([`synonyms`]; the build script and WordNet's licence are in the crate's
//! `data` folder).
//!
//! ```
//! use anneal_regularize::augment::{AugmentConfig, text::TextAugmenter};
//!
//! let config: AugmentConfig = toml::from_str(r#"steps = [{ transform = "synonym_replace", share = 0.2 }]"#)?;
//! let eda = TextAugmenter::new(config, 0)?;
//! let text = "The coffee was not good, but the tea is excellent.";
//! let augmented = eda.augment(text, 3, 0);
//! assert_ne!(augmented, text);
//! assert!(augmented.contains(" not ")); // a protected negation
//! assert_eq!(augmented, eda.augment(text, 3, 0)); // replayed
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::collections::{HashMap, HashSet};
use std::io::Read;
use std::sync::OnceLock;

use anneal_core::SeededRng;

use super::config::{AugmentConfig, Media, Step};
use super::plan::{draw_with, sample_rng};
use crate::error::RegularizeError;

/// The synonym table, gzipped: `word \t synonym synonym ...` per line.
const TABLE: &[u8] = include_bytes!("../../data/synonyms.tsv.gz");

/// Function words that synonym replacement leaves alone (replacing "the" or
/// "was" says nothing new, and WordNet's senses of them are rare nouns).
const STOP_WORDS: &[&str] = &[
    "a",
    "about",
    "above",
    "after",
    "again",
    "against",
    "all",
    "am",
    "an",
    "and",
    "any",
    "are",
    "as",
    "at",
    "be",
    "because",
    "been",
    "before",
    "being",
    "below",
    "between",
    "both",
    "but",
    "by",
    "can",
    "could",
    "did",
    "do",
    "does",
    "doing",
    "down",
    "during",
    "each",
    "few",
    "for",
    "from",
    "further",
    "had",
    "has",
    "have",
    "having",
    "he",
    "her",
    "here",
    "hers",
    "herself",
    "him",
    "himself",
    "his",
    "how",
    "i",
    "if",
    "in",
    "into",
    "is",
    "it",
    "its",
    "itself",
    "just",
    "me",
    "more",
    "most",
    "my",
    "myself",
    "now",
    "of",
    "off",
    "on",
    "once",
    "only",
    "or",
    "other",
    "our",
    "ours",
    "ourselves",
    "out",
    "over",
    "own",
    "same",
    "she",
    "should",
    "so",
    "some",
    "such",
    "than",
    "that",
    "the",
    "their",
    "theirs",
    "them",
    "themselves",
    "then",
    "there",
    "these",
    "they",
    "this",
    "those",
    "through",
    "to",
    "too",
    "under",
    "until",
    "up",
    "very",
    "was",
    "we",
    "were",
    "what",
    "when",
    "where",
    "which",
    "while",
    "who",
    "whom",
    "why",
    "will",
    "with",
    "would",
    "you",
    "your",
    "yours",
    "yourself",
    "yourselves",
];

/// The synonyms of `word` (lower case) in the bundled WordNet table, in
/// WordNet's order; empty when it has none.
pub fn synonyms(word: &str) -> &'static [String] {
    static SYNONYMS: OnceLock<HashMap<String, Vec<String>>> = OnceLock::new();
    let table = SYNONYMS.get_or_init(|| {
        let mut text = String::new();
        // The table is compiled in; a failure here is a broken build, not bad input.
        flate2::read::GzDecoder::new(TABLE).read_to_string(&mut text).expect("the bundled synonym table is gzip text");
        text.lines()
            .filter_map(|l| l.split_once('\t'))
            .map(|(w, s)| (w.to_string(), s.split(' ').map(String::from).collect()))
            .collect()
    });
    table.get(word).map_or(&[], Vec::as_slice)
}

/// What one text step does: the step and the seed of its own generator.
#[derive(Debug, Clone, PartialEq)]
pub struct TextOp {
    /// The step (a text leaf of the pipeline).
    pub step: Step,
    /// Seed of the step's draws.
    pub seed: u64,
}

/// A seeded text augmentation pipeline: the `[augment]` steps of a text run.
#[derive(Debug, Clone)]
pub struct TextAugmenter {
    config: AugmentConfig,
    seed: u64,
    protected: HashSet<String>,
}

/// A word split into its leading punctuation, its letters, and its trailing
/// punctuation.
fn parts(word: &str) -> (&str, &str, &str) {
    let start = word.find(|c: char| c.is_alphanumeric()).unwrap_or(word.len());
    let end = word
        .rfind(|c: char| c.is_alphanumeric())
        .map_or(start, |i| i + word[i..].chars().next().map_or(1, char::len_utf8));
    (&word[..start], &word[start..end.max(start)], &word[end.max(start)..])
}

impl TextAugmenter {
    /// The pipeline of `config` (checked: text steps only), its draws seeded by `seed`.
    pub fn new(config: AugmentConfig, seed: u64) -> Result<Self, RegularizeError> {
        config.validate_for(Media::Text)?;
        let protected = config.protected.iter().map(|w| w.trim().to_lowercase()).collect();
        Ok(Self { config, seed, protected })
    }

    /// The configuration.
    pub fn config(&self) -> &AugmentConfig {
        &self.config
    }

    /// Whether `word` (with its punctuation) is protected.
    pub fn is_protected(&self, word: &str) -> bool {
        let core = parts(word).1.to_lowercase();
        self.protected.contains(&core) || core.ends_with("n't") || core.ends_with("n’t")
    }

    /// What every leaf does to the text of `row` in `epoch` (`None`: not applied).
    pub fn plan(&self, row: usize, epoch: usize) -> Vec<Option<TextOp>> {
        let mut rng = sample_rng(self.seed, epoch, row);
        draw_with(&self.config, &mut rng, &mut |step, rng| Some(TextOp { step: step.clone(), seed: rng.next_u64() }))
    }

    /// `text` as training sees it for `row` in `epoch`: unchanged when no step
    /// applies, else its words rejoined by single spaces.
    pub fn augment(&self, text: &str, row: usize, epoch: usize) -> String {
        self.apply(text, &self.plan(row, epoch))
    }

    /// The steps of `ops` applied to `text` in order.
    pub fn apply(&self, text: &str, ops: &[Option<TextOp>]) -> String {
        if ops.iter().all(Option::is_none) {
            return text.to_string();
        }
        let mut words: Vec<String> = text.split_whitespace().map(String::from).collect();
        for op in ops.iter().flatten() {
            if words.is_empty() {
                break;
            }
            let rng = &mut SeededRng::new(op.seed);
            let count =
                |share: f64, len: usize| if share > 0.0 { ((share * len as f64).round() as usize).max(1) } else { 0 };
            match op.step {
                Step::SynonymReplace { share, .. } => {
                    let n = count(share, words.len());
                    self.replace(&mut words, n, rng);
                }
                Step::RandomInsert { share, .. } => {
                    let n = count(share, words.len());
                    self.insert(&mut words, n, rng);
                }
                Step::RandomSwap { share, .. } => {
                    let n = count(share, words.len());
                    self.swap(&mut words, n, rng);
                }
                Step::RandomDelete { share, .. } => self.delete(&mut words, share, rng),
                Step::SentenceShuffle { .. } => shuffle_sentences(&mut words, rng),
                _ => {}
            }
        }
        words.join(" ")
    }

    /// The positions of words that may be replaced: unprotected, not stop words,
    /// with a synonym.
    fn replaceable(&self, words: &[String]) -> Vec<usize> {
        (0..words.len())
            .filter(|&i| {
                let core = parts(&words[i]).1.to_lowercase();
                !self.is_protected(&words[i]) && !STOP_WORDS.contains(&core.as_str()) && !synonyms(&core).is_empty()
            })
            .collect()
    }

    /// The synonyms of `word` that are not protected themselves.
    fn allowed(&self, word: &str) -> Vec<&'static String> {
        synonyms(word).iter().filter(|s| !self.is_protected(s)).collect()
    }

    fn replace(&self, words: &mut [String], n: usize, rng: &mut SeededRng) {
        let mut candidates = self.replaceable(words);
        rng.shuffle(&mut candidates);
        for &i in candidates.iter().take(n) {
            let (before, core, after) = parts(&words[i]);
            let options = self.allowed(&core.to_lowercase());
            let Some(mut synonym) = pick(&options, rng) else { continue };
            if core.chars().next().is_some_and(char::is_uppercase) {
                synonym = capitalised(&synonym);
            }
            words[i] = format!("{before}{synonym}{after}");
        }
    }

    fn insert(&self, words: &mut Vec<String>, n: usize, rng: &mut SeededRng) {
        // The words whose synonyms may be inserted, fixed before the first insertion.
        let sources: Vec<String> =
            self.replaceable(words).into_iter().map(|i| parts(&words[i]).1.to_lowercase()).collect();
        if sources.is_empty() {
            return;
        }
        for _ in 0..n {
            let options = self.allowed(&sources[rng.below(sources.len() as u64) as usize]);
            let Some(synonym) = pick(&options, rng) else { continue };
            let at = rng.below(words.len() as u64 + 1) as usize;
            words.insert(at, synonym);
        }
    }

    fn swap(&self, words: &mut [String], n: usize, rng: &mut SeededRng) {
        let free: Vec<usize> = (0..words.len()).filter(|&i| !self.is_protected(&words[i])).collect();
        if free.len() < 2 {
            return;
        }
        for _ in 0..n {
            let a = rng.below(free.len() as u64) as usize;
            let b = (a + 1 + rng.below(free.len() as u64 - 1) as usize) % free.len();
            words.swap(free[a], free[b]);
        }
    }

    fn delete(&self, words: &mut Vec<String>, share: f64, rng: &mut SeededRng) {
        let keep: Vec<bool> = words.iter().map(|w| self.is_protected(w) || rng.next_f64() >= share).collect();
        if keep.iter().any(|k| *k) {
            let mut it = keep.iter();
            words.retain(|_| *it.next().unwrap_or(&true));
        } else {
            let survivor = words.swap_remove(rng.below(words.len() as u64) as usize);
            *words = vec![survivor];
        }
    }
}

fn pick(options: &[&String], rng: &mut SeededRng) -> Option<String> {
    (!options.is_empty()).then(|| options[rng.below(options.len() as u64) as usize].clone())
}

fn capitalised(word: &str) -> String {
    let mut chars = word.chars();
    chars.next().map_or_else(String::new, |c| c.to_uppercase().chain(chars).collect())
}

/// The sentences of `words` (each ends with a word whose last letter-or-mark is
/// `.`, `!` or `?`, closing quotes and brackets aside) put in a random order.
fn shuffle_sentences(words: &mut Vec<String>, rng: &mut SeededRng) {
    let mut sentences: Vec<Vec<String>> = vec![Vec::new()];
    for w in words.drain(..) {
        let ends = w.trim_end_matches(['"', '\'', ')', ']', '”', '’']).ends_with(['.', '!', '?']);
        sentences.last_mut().unwrap_or(&mut Vec::new()).push(w);
        if ends {
            sentences.push(Vec::new());
        }
    }
    sentences.retain(|s| !s.is_empty());
    rng.shuffle(&mut sentences);
    *words = sentences.concat();
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn augmenter(steps: &str) -> TextAugmenter {
        TextAugmenter::new(toml::from_str(&format!("steps = [{steps}]")).unwrap(), 5).unwrap()
    }

    const REVIEW: &str = "These cookies taste great and the price is fair. I would not buy the bland crackers again! \
                          My kids love the chewy texture, but the box arrived damaged.";

    #[test]
    fn the_table_has_wordnet_synonyms() {
        assert!(synonyms("delicious").iter().any(|s| s == "scrumptious"), "{:?}", synonyms("delicious"));
        assert!(synonyms("zzzz").is_empty());
    }

    #[test]
    fn synonym_replacement_changes_the_configured_share() {
        let eda = augmenter(r#"{ transform = "synonym_replace", share = 0.1 }"#);
        let words: Vec<&str> = REVIEW.split_whitespace().collect();
        let want = (0.1 * words.len() as f64).round() as usize;
        for row in 0..100 {
            let out = eda.augment(REVIEW, row, 0);
            let new: Vec<&str> = out.split_whitespace().collect();
            assert_eq!(new.len(), words.len());
            let changed = words.iter().zip(&new).filter(|(a, b)| a != b).count();
            // A synonym can equal the word up to case; never more than asked.
            assert!(changed <= want && changed + 1 >= want, "row {row}: {changed} of {want}: {out}");
            assert_eq!(new[11], "not");
        }
    }

    #[test]
    fn insertion_adds_and_deletion_removes_the_share() {
        let words = REVIEW.split_whitespace().count();
        let insert = augmenter(r#"{ transform = "random_insert", share = 0.2 }"#);
        for row in 0..20 {
            let out = insert.augment(REVIEW, row, 0);
            assert_eq!(out.split_whitespace().count(), words + 6, "{out}");
        }
        let delete = augmenter(r#"{ transform = "random_delete", share = 0.3 }"#);
        let protected = REVIEW.split_whitespace().filter(|w| delete.is_protected(w)).count();
        let removed: usize =
            (0..400).map(|row| words - delete.augment(REVIEW, row, 0).split_whitespace().count()).sum();
        let share = removed as f64 / (400 * (words - protected)) as f64;
        assert!((share - 0.3).abs() < 0.02, "{share}");
    }

    #[test]
    fn sentence_shuffle_keeps_every_sentence_whole() {
        let eda = augmenter(r#"{ transform = "sentence_shuffle" }"#);
        let mut seen = HashSet::new();
        for row in 0..30 {
            let out = eda.augment(REVIEW, row, 0);
            for sentence in
                ["These cookies taste great and the price is fair.", "I would not buy the bland crackers again!"]
            {
                assert!(out.contains(sentence), "{out}");
            }
            seen.insert(out);
        }
        assert_eq!(seen.len(), 6, "three sentences have six orders");
    }

    #[test]
    fn punctuation_and_capitals_survive_replacement() {
        assert_eq!(parts("(Great!)"), ("(", "Great", "!)"));
        assert_eq!(parts("..."), ("...", "", ""));
        assert_eq!(parts("don't"), ("", "don't", ""));
        let eda = augmenter(r#"{ transform = "synonym_replace", share = 1.0 }"#);
        let out = eda.augment("Delicious!", 0, 0);
        assert!(out.ends_with('!') && out.chars().next().unwrap().is_uppercase() && out != "Delicious!", "{out}");
    }

    #[test]
    fn only_text_steps_are_accepted() {
        let err = TextAugmenter::new(toml::from_str(r#"steps = [{ transform = "gain", db = [-3, 3] }]"#).unwrap(), 0)
            .unwrap_err()
            .to_string();
        assert!(err.contains("augment.steps[0] (gain) transforms audio"), "{err}");
    }

    proptest! {
        #[test]
        fn protected_words_are_never_touched(seed in any::<u64>(), row in 0usize..1000, share in 0.0f64..1.0) {
            let config: AugmentConfig = toml::from_str(&format!(
                r#"steps = [
                    {{ transform = "synonym_replace", share = {share} }},
                    {{ transform = "random_insert", share = {share} }},
                    {{ transform = "random_swap", share = {share} }},
                    {{ transform = "random_delete", share = {share} }},
                ]"#
            )).unwrap();
            let eda = TextAugmenter::new(config, seed).unwrap();
            let text = "not great , never again : the food was n't bad but nothing special and I don't love it";
            let out = eda.augment(text, row, 0);
            let count = |t: &str, w: &str| t.split_whitespace().filter(|x| *x == w).count();
            for w in ["not", "never", "n't", "nothing", "don't"] {
                prop_assert_eq!(count(&out, w), count(text, w), "{}: {}", w, out);
            }
            // Protected words keep their order.
            let order = |t: &str| t.split_whitespace().filter(|w| eda.is_protected(w)).map(String::from).collect::<Vec<_>>();
            prop_assert_eq!(order(&out), order(text));
            prop_assert!(!out.trim().is_empty());
            prop_assert_eq!(out.clone(), eda.augment(text, row, 0));
        }
    }
}
