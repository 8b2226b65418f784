//! Text columns as rows of token ids: a tokenizer fitted on the training rows
//! only, then every text cut or padded to one length.
//!
//! Two tokenizers ([`TokenizerKind`]):
//!
//! - `word`: the tokens are the matches of a regular expression (`\w+`) in the
//!   (lower-cased) text; the vocabulary is the `vocab_size` most frequent
//!   training tokens seen at least `min_count` times, ties broken
//!   alphabetically, as a `collections.Counter` vocabulary in Python is usually
//!   built. Written here: it is a few lines, and exactness against the
//!   reference scripts matters more than features.
//! - `bpe`: a subword vocabulary of byte-pair merges (Sennrich et al. 2016)
//!   learned by the Hugging Face `tokenizers` crate on the same words (the
//!   pattern's matches), so a word never seen in training still becomes known
//!   pieces instead of `<unk>`.
//!
//! WordPiece is left out on purpose: the `tokenizers` trainer numbers its `##`
//! continuation pieces in the order it walks a hash map of the words, and ties
//! between merges are broken by those numbers, so the same texts can give
//! different vocabularies from one fit to the next (a unit test caught it),
//! which Anneal's same-seed-same-result rule does not allow. Its BPE trainer
//! starts from the sorted alphabet and is deterministic.
//!
//! Ids 0 and 1 are always `<pad>` and `<unk>`. Each text becomes `max_len` ids:
//! its first (`truncation = "head"`) or last (`"tail"`) `max_len` tokens, then
//! `<pad>` up to `max_len`; a text with no token becomes one `<unk>`, so every
//! row has at least one real token. The attention mask of a row is where its
//! ids are not `<pad>`: a model reads it from the ids, so the rows travel
//! through splits, batches, cross-validation and prediction like any other.
//!
//! ```
//! use anneal_data::text::{TextEncoder, TextOptions};
//! use anneal_data::{Column, Table};
//!
//! let texts = ["The soup was great", "great great soup", "awful, cold soup"];
//! let table = Table::from_columns(vec![(
//!     "review".to_string(),
//!     Column::Categorical(texts.iter().map(|t| Some(t.to_string())).collect()),
//! )])?;
//! let options = TextOptions { max_len: 4, min_count: 2, ..TextOptions::default() };
//! let (encoder, m) = TextEncoder::fit_transform(&options, &table, "review")?;
//! // `soup` (3 times) and `great` (3 times) are kept, ties alphabetically: great = 2, soup = 3.
//! assert_eq!(encoder.tokens(), ["<pad>", "<unk>", "great", "soup"]);
//! assert_eq!(&m.values[..4], &[1.0, 3.0, 1.0, 2.0]); // the, soup, was, great
//! assert_eq!(&m.values[8..], &[1.0, 1.0, 3.0, 0.0]); // awful, cold, soup, <pad>
//! # Ok::<(), anneal_data::DataError>(())
//! ```

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

use crate::error::{DataError, Result};
use crate::preprocess::Matrix;
use crate::table::Table;

/// The id of `<pad>`: positions after a text's last token.
pub const PAD: u32 = 0;
/// The id of `<unk>`: a token the vocabulary does not hold.
pub const UNK: u32 = 1;

/// How a text is cut into tokens.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TokenizerKind {
    /// Whole words: the pattern's matches.
    #[default]
    Word,
    /// Byte-pair encoding (Sennrich et al. 2016) learned on the words.
    Bpe,
}

/// Which tokens a text longer than `max_len` keeps.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Truncation {
    /// The first `max_len`.
    #[default]
    Head,
    /// The last `max_len`.
    Tail,
}

/// How texts become token ids (`[data.text]` in a run config).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TextOptions {
    /// `word` (default) or `bpe`.
    pub tokenizer: TokenizerKind,
    /// Lower-case the text first (true).
    pub lowercase: bool,
    /// The regular expression whose matches are the words (`\w+`, Unicode).
    pub pattern: String,
    /// Tokens learned besides `<pad>` and `<unk>` (8000): the most frequent
    /// words, or the subword vocabulary's size.
    pub vocab_size: usize,
    /// A word (or a merge) needs at least this many training occurrences (2).
    pub min_count: usize,
    /// Ids per text (128): longer texts are cut, shorter ones padded.
    pub max_len: usize,
    /// Which tokens of a longer text are kept (`head`).
    pub truncation: Truncation,
}

impl Default for TextOptions {
    fn default() -> Self {
        Self {
            tokenizer: TokenizerKind::Word,
            lowercase: true,
            pattern: r"\w+".into(),
            vocab_size: 8000,
            min_count: 2,
            max_len: 128,
            truncation: Truncation::Head,
        }
    }
}

impl TextOptions {
    /// Checks the settings: sizes of at least 1, a pattern that compiles and
    /// cannot match the empty string.
    pub fn validate(&self) -> Result<()> {
        let bad = |m: String| Err(DataError::InvalidParameter(format!("[data.text] {m}")));
        if self.max_len == 0 {
            return bad("max_len must be at least 1".into());
        }
        if self.vocab_size == 0 {
            return bad("vocab_size must be at least 1".into());
        }
        if self.min_count == 0 {
            return bad("min_count must be at least 1 (1 keeps every word)".into());
        }
        let re = self.regex()?;
        if re.is_match("") {
            return bad(format!("pattern `{}` matches the empty string, so it would make empty tokens", self.pattern));
        }
        Ok(())
    }

    fn regex(&self) -> Result<regex::Regex> {
        regex::Regex::new(&self.pattern)
            .map_err(|e| DataError::InvalidParameter(format!("[data.text] pattern `{}`: {e}", self.pattern)))
    }

    /// The words of `text`: the pattern's matches after lower-casing.
    fn words<'t>(&self, re: &regex::Regex, text: &'t str, lowered: &'t mut String) -> Vec<&'t str> {
        let text = if self.lowercase {
            *lowered = text.to_lowercase();
            lowered.as_str()
        } else {
            text
        };
        re.find_iter(text).map(|m| m.as_str()).collect()
    }
}

/// The fitted vocabulary.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
enum Vocabulary {
    /// Word-level: the words of ids 2, 3, ...
    Words(Vec<String>),
    /// A trained `tokenizers` pipeline (normaliser, pre-tokenizer, model).
    Subwords(Box<tokenizers::Tokenizer>),
}

/// What tokenizing a set of texts found, for reports.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct TextStats {
    /// Texts read.
    pub texts: usize,
    /// Mean tokens per text before truncation.
    pub mean_tokens: f64,
    /// Fraction of texts longer than `max_len`.
    pub truncated: f64,
    /// Fraction of kept tokens that are `<unk>`.
    pub unknown: f64,
}

/// A tokenizer fitted on training texts: turns a text column into rows of
/// `max_len` token ids ([`TextEncoder::transform`]). Serialises with the run.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TextEncoder {
    column: String,
    options: TextOptions,
    vocabulary: Vocabulary,
}

impl TextEncoder {
    /// Fits the tokenizer on the texts of `column` in `table` (the training
    /// rows) and returns them as token ids. A missing cell is an empty text.
    pub fn fit_transform(options: &TextOptions, table: &Table, column: &str) -> Result<(Self, Matrix)> {
        let encoder = Self::fit(options, table, column)?;
        let m = encoder.transform(table)?;
        Ok((encoder, m))
    }

    /// Fits the tokenizer on the texts of `column` in `table`.
    pub fn fit(options: &TextOptions, table: &Table, column: &str) -> Result<Self> {
        options.validate()?;
        let texts = texts(table, column)?;
        let vocabulary = match options.tokenizer {
            TokenizerKind::Word => {
                let re = options.regex()?;
                let mut counts: HashMap<String, usize> = HashMap::new();
                let mut lowered = String::new();
                for text in &texts {
                    for w in options.words(&re, text, &mut lowered) {
                        match counts.get_mut(w) {
                            Some(n) => *n += 1,
                            None => {
                                counts.insert(w.to_string(), 1);
                            }
                        }
                    }
                }
                let mut words: Vec<(String, usize)> =
                    counts.into_iter().filter(|(_, n)| *n >= options.min_count).collect();
                words.sort_unstable_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
                words.truncate(options.vocab_size);
                Vocabulary::Words(words.into_iter().map(|(w, _)| w).collect())
            }
            TokenizerKind::Bpe => Vocabulary::Subwords(Box::new(subword::train(options, &texts)?)),
        };
        Ok(Self { column: column.to_string(), options: options.clone(), vocabulary })
    }

    /// The text column read.
    pub fn column(&self) -> &str {
        &self.column
    }

    /// The settings it was fitted with.
    pub fn options(&self) -> &TextOptions {
        &self.options
    }

    /// Ids per row (`max_len`).
    pub fn max_len(&self) -> usize {
        self.options.max_len
    }

    /// Every token in id order, `<pad>` and `<unk>` first.
    pub fn tokens(&self) -> Vec<String> {
        match &self.vocabulary {
            Vocabulary::Words(words) => {
                ["<pad>", "<unk>"].into_iter().map(String::from).chain(words.iter().cloned()).collect()
            }
            Vocabulary::Subwords(t) => {
                let mut pairs: Vec<(String, u32)> = t.get_vocab(true).into_iter().collect();
                pairs.sort_unstable_by_key(|(_, id)| *id);
                pairs.into_iter().map(|(w, _)| w).collect()
            }
        }
    }

    /// The number of ids (the embedding table's rows): `<pad>`, `<unk>` and the learned tokens.
    pub fn vocab_len(&self) -> usize {
        match &self.vocabulary {
            Vocabulary::Words(words) => words.len() + 2,
            Vocabulary::Subwords(t) => t.get_vocab_size(true),
        }
    }

    /// The model's input columns: `token_0` .. `token_{max_len-1}`.
    pub fn feature_names(&self) -> Vec<String> {
        (0..self.options.max_len).map(|i| format!("token_{i}")).collect()
    }

    /// The texts of the encoder's column in `table` as rows of `max_len` ids
    /// (as `f32`, exact below 2²⁴), padded with `<pad>` (0).
    pub fn transform(&self, table: &Table) -> Result<Matrix> {
        Ok(self.encode(table)?.0)
    }

    /// [`transform`](TextEncoder::transform) and what tokenizing found.
    pub fn encode(&self, table: &Table) -> Result<(Matrix, TextStats)> {
        self.encode_texts(&texts(table, &self.column)?)
    }

    /// The texts of the encoder's column in `table` (a missing text is empty), as
    /// [`encode`](TextEncoder::encode) reads them.
    pub fn texts(&self, table: &Table) -> Result<Vec<String>> {
        texts(table, &self.column)
    }

    /// [`encode`](TextEncoder::encode) of texts given as strings.
    pub fn encode_texts(&self, texts: &[String]) -> Result<(Matrix, TextStats)> {
        let ids = self.ids(texts)?;
        let max_len = self.options.max_len;
        let mut values = vec![PAD as f32; texts.len() * max_len];
        let (mut tokens, mut truncated, mut unknown, mut kept) = (0usize, 0usize, 0usize, 0usize);
        for (row, ids) in ids.into_iter().enumerate() {
            tokens += ids.len();
            let ids: &[u32] = if ids.is_empty() { &[UNK] } else { &ids };
            let keep = if ids.len() > max_len {
                truncated += 1;
                match self.options.truncation {
                    Truncation::Head => &ids[..max_len],
                    Truncation::Tail => &ids[ids.len() - max_len..],
                }
            } else {
                ids
            };
            kept += keep.len();
            unknown += keep.iter().filter(|&&i| i == UNK).count();
            for (v, &id) in values[row * max_len..].iter_mut().zip(keep) {
                *v = id as f32;
            }
        }
        let n = texts.len().max(1) as f64;
        let stats = TextStats {
            texts: texts.len(),
            mean_tokens: tokens as f64 / n,
            truncated: truncated as f64 / n,
            unknown: unknown as f64 / kept.max(1) as f64,
        };
        Ok((Matrix { values, n_rows: texts.len(), n_cols: max_len }, stats))
    }

    /// The tokens of one row of ids, `<pad>` left out: what the model read.
    pub fn decode(&self, ids: &[f32]) -> Vec<String> {
        let tokens = self.tokens();
        ids.iter()
            .map(|&v| v as usize)
            .filter(|&i| i != PAD as usize)
            .map(|i| tokens.get(i).cloned().unwrap_or_else(|| "<unk>".into()))
            .collect()
    }

    /// Each text's ids before truncation and padding.
    fn ids(&self, texts: &[String]) -> Result<Vec<Vec<u32>>> {
        match &self.vocabulary {
            Vocabulary::Words(words) => {
                let index: HashMap<&str, u32> =
                    words.iter().enumerate().map(|(i, w)| (w.as_str(), i as u32 + 2)).collect();
                let re = self.options.regex()?;
                let mut lowered = String::new();
                Ok(texts
                    .iter()
                    .map(|t| {
                        self.options
                            .words(&re, t, &mut lowered)
                            .into_iter()
                            .map(|w| *index.get(w).unwrap_or(&UNK))
                            .collect()
                    })
                    .collect())
            }
            Vocabulary::Subwords(t) => subword::encode(t, texts),
        }
    }
}

/// The cells of a text column; a missing cell is an empty text.
fn texts(table: &Table, column: &str) -> Result<Vec<String>> {
    Ok(table.as_strings(column)?.into_iter().map(Option::unwrap_or_default).collect())
}

/// BPE through the `tokenizers` crate.
mod subword {
    use tokenizers::models::bpe::{BPE, BpeTrainerBuilder};
    use tokenizers::normalizers::Lowercase;
    use tokenizers::pre_tokenizers::split::{Split, SplitPattern};
    use tokenizers::{
        AddedToken, DecoderWrapper, NormalizerWrapper, PostProcessorWrapper, PreTokenizerWrapper,
        SplitDelimiterBehavior, Tokenizer, TokenizerBuilder,
    };

    use super::TextOptions;
    use crate::error::{DataError, Result};

    fn error(e: impl std::fmt::Display) -> DataError {
        DataError::InvalidParameter(format!("[data.text] tokenizer: {e}"))
    }

    /// Trains a BPE tokenizer of `options` on `texts`: `<pad>` = 0, `<unk>` = 1.
    pub(super) fn train(options: &TextOptions, texts: &[String]) -> Result<Tokenizer> {
        let specials = vec![AddedToken::from("<pad>", true), AddedToken::from("<unk>", true)];
        let mut trainer = BpeTrainerBuilder::new()
            .vocab_size(options.vocab_size + specials.len())
            .min_frequency(options.min_count as u64)
            .special_tokens(specials)
            .show_progress(false)
            .build();
        let model = BPE::builder().unk_token("<unk>".into()).build().map_err(error)?;
        // The pattern's matches are the pre-tokens (invert: keep what matches).
        let split = Split::new(SplitPattern::Regex(options.pattern.clone()), SplitDelimiterBehavior::Removed, true)
            .map_err(error)?;
        let mut tokenizer =
            TokenizerBuilder::<BPE, NormalizerWrapper, PreTokenizerWrapper, PostProcessorWrapper, DecoderWrapper>::new(
            )
            .with_model(model)
            .with_normalizer(options.lowercase.then(|| Lowercase.into()))
            .with_pre_tokenizer(Some(split.into()))
            .with_post_processor(None)
            .with_decoder(None)
            .build()
            .map_err(error)?;
        tokenizer.train(&mut trainer, texts.iter()).map_err(error)?;
        Ok(Tokenizer::from(tokenizer))
    }

    /// The ids of each text, without special tokens.
    pub(super) fn encode(tokenizer: &Tokenizer, texts: &[String]) -> Result<Vec<Vec<u32>>> {
        let inputs: Vec<&str> = texts.iter().map(String::as_str).collect();
        let encodings = tokenizer.encode_batch(inputs, false).map_err(error)?;
        Ok(encodings.into_iter().map(|e| e.get_ids().to_vec()).collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::table::Column;

    fn table(texts: &[&str]) -> Table {
        Table::from_columns(vec![(
            "text".to_string(),
            Column::Categorical(texts.iter().map(|t| Some(t.to_string())).collect()),
        )])
        .unwrap()
    }

    #[test]
    fn word_vocabulary_counts_breaks_ties_alphabetically_and_cuts_at_vocab_size() {
        let t = table(&["b a a c", "c b a d", "e"]);
        let options = TextOptions { min_count: 1, vocab_size: 3, max_len: 3, ..TextOptions::default() };
        let (enc, m) = TextEncoder::fit_transform(&options, &t, "text").unwrap();
        // a: 3, b: 2, c: 2, d: 1, e: 1 → a, b, c kept.
        assert_eq!(enc.tokens(), ["<pad>", "<unk>", "a", "b", "c"]);
        assert_eq!(enc.vocab_len(), 5);
        assert_eq!(m.values, vec![3.0, 2.0, 2.0, 4.0, 3.0, 2.0, 1.0, 0.0, 0.0]);
    }

    #[test]
    fn truncation_keeps_the_head_or_the_tail_and_an_empty_text_is_one_unknown() {
        let t = table(&["x y z w", "", "!!!"]);
        let head = TextOptions { min_count: 1, max_len: 2, ..TextOptions::default() };
        let (enc, m) = TextEncoder::fit_transform(&head, &t, "text").unwrap();
        let id = |w: &str| enc.tokens().iter().position(|t| t == w).unwrap() as f32;
        assert_eq!(&m.values[..2], &[id("x"), id("y")]);
        assert_eq!(&m.values[2..], &[1.0, 0.0, 1.0, 0.0]);
        let (_, stats) = enc.encode(&t).unwrap();
        assert_eq!(stats.texts, 3);
        assert!((stats.truncated - 1.0 / 3.0).abs() < 1e-12);
        let tail = TextOptions { truncation: Truncation::Tail, ..head };
        let (_, m) = TextEncoder::fit_transform(&tail, &t, "text").unwrap();
        assert_eq!(&m.values[..2], &[id("z"), id("w")]);
    }

    #[test]
    fn lowercasing_is_a_switch_and_bad_settings_are_named() {
        let t = table(&["Soup soup SOUP"]);
        let (enc, _) =
            TextEncoder::fit_transform(&TextOptions { min_count: 1, ..TextOptions::default() }, &t, "text").unwrap();
        assert_eq!(enc.vocab_len(), 3);
        let keep_case = TextOptions { min_count: 1, lowercase: false, ..TextOptions::default() };
        assert_eq!(TextEncoder::fit(&keep_case, &t, "text").unwrap().vocab_len(), 5);
        for (options, needle) in [
            (TextOptions { max_len: 0, ..TextOptions::default() }, "max_len"),
            (TextOptions { pattern: "(".into(), ..TextOptions::default() }, "pattern"),
            (TextOptions { pattern: r"\w*".into(), ..TextOptions::default() }, "empty string"),
        ] {
            let e = TextEncoder::fit(&options, &t, "text").unwrap_err().to_string();
            assert!(e.contains(needle), "{e}");
        }
        assert!(TextEncoder::fit(&TextOptions::default(), &t, "nope").is_err());
    }

    #[test]
    fn bpe_knows_pieces_of_unseen_words_and_fits_the_same_every_time() {
        let words = ["lower", "lowest", "newer", "newest", "wider", "widest", "low", "new", "wide", "slow", "renew"];
        let texts: Vec<String> =
            (0..60).map(|i| format!("{} {} {}", words[i % 11], words[(i * 7) % 11], words[(i * 5 + 3) % 11])).collect();
        let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
        let t = table(&refs);
        let options =
            TextOptions { tokenizer: TokenizerKind::Bpe, vocab_size: 40, max_len: 6, ..TextOptions::default() };
        let a = TextEncoder::fit(&options, &t, "text").unwrap();
        // The trainer walks hash maps: five fits (five hash seeds) give one vocabulary.
        for _ in 0..5 {
            assert_eq!(a.tokens(), TextEncoder::fit(&options, &t, "text").unwrap().tokens());
        }
        assert_eq!(&a.tokens()[..2], ["<pad>", "<unk>"]);
        assert!(a.vocab_len() <= 42);
        // An unseen word made of seen pieces: no <unk>.
        let (m, stats) = a.encode(&table(&["Newer lowest widest"])).unwrap();
        assert_eq!(stats.unknown, 0.0, "{:?}", a.decode(&m.values));
        assert!(m.values.iter().filter(|&&v| v != 0.0).count() >= 3);
        // It survives a round trip through JSON (the run folder).
        let json = serde_json::to_string(&a).unwrap();
        let back: TextEncoder = serde_json::from_str(&json).unwrap();
        assert_eq!(back.transform(&t).unwrap(), a.transform(&t).unwrap());
    }
}
