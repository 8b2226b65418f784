//! `cargo xtask book`: the docs book, built with mdBook and checked.
//!
//! Before the build: the summary links every chapter in `docs/src`. After it:
//! every link and image inside a chapter's text resolves — the file exists in the
//! built book and, for `page.html#anchor` or `#anchor`, the page has an element
//! with that id. The check reads the HTML mdBook wrote, so it uses mdBook's own
//! heading ids instead of a copy of its rules.

use std::collections::{HashMap, HashSet};
use std::path::Path;
use std::process::Command;

use anyhow::{Context, Result, bail};

/// Pages mdBook writes besides the chapters; their links are mdBook's own.
const GENERATED_PAGES: [&str; 4] = ["index.html", "print.html", "toc.html", "404.html"];

/// Checks the summary, installs mdBook when it is missing, builds `docs` into
/// `docs/book` and checks the links of the built chapters.
pub fn book() -> Result<()> {
    let summary = std::fs::read_to_string("docs/src/SUMMARY.md")?;
    let mut unlinked = Vec::new();
    for entry in std::fs::read_dir("docs/src")? {
        let name = entry?.file_name().to_string_lossy().into_owned();
        if name.ends_with(".md") && name != "SUMMARY.md" && !summary.contains(&format!("({name})")) {
            unlinked.push(name);
        }
    }
    if !unlinked.is_empty() {
        unlinked.sort();
        bail!("docs/src/SUMMARY.md does not link {}", unlinked.join(", "));
    }
    let has_mdbook = Command::new("mdbook").arg("--version").output().is_ok_and(|o| o.status.success());
    if !has_mdbook {
        crate::stage(
            "install mdBook",
            crate::cargo(&["install", "mdbook", "--locked", "--no-default-features", "--features", "search"]),
        )?;
    }
    let mut build = Command::new("mdbook");
    build.args(["build", "docs"]);
    crate::stage("mdbook build docs", build)?;
    let broken = broken_links(Path::new("docs/book"))?;
    if !broken.is_empty() {
        bail!("the docs book has {} broken link(s):\n  {}", broken.len(), broken.join("\n  "));
    }
    Ok(())
}

/// Every `href` and `src` inside the `<main>` element of the chapter pages in
/// `dir` that does not resolve, as `page: link (why)`. External links (with a
/// scheme) are not followed.
pub fn broken_links(dir: &Path) -> Result<Vec<String>> {
    let mut pages = HashMap::new();
    for entry in std::fs::read_dir(dir).with_context(|| format!("reading {}", dir.display()))? {
        let path = entry?.path();
        if path.extension().is_some_and(|e| e == "html") {
            let name = path.file_name().unwrap_or_default().to_string_lossy().into_owned();
            let text = std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
            pages.insert(name, text);
        }
    }
    let ids: HashMap<&str, HashSet<&str>> =
        pages.iter().map(|(name, text)| (name.as_str(), attribute_values(text, "id").collect())).collect();
    let mut names: Vec<&String> = pages.keys().filter(|n| !GENERATED_PAGES.contains(&n.as_str())).collect();
    names.sort();
    let mut broken = Vec::new();
    for name in names {
        let text = &pages[name];
        let main = match (text.find("<main>"), text.find("</main>")) {
            (Some(start), Some(end)) if start < end => &text[start..end],
            _ => text.as_str(),
        };
        for link in attribute_values(main, "href").chain(attribute_values(main, "src")) {
            if link.contains("://") || link.starts_with("mailto:") || link.starts_with("data:") {
                continue;
            }
            let (path, anchor) = link.split_once('#').unwrap_or((link, ""));
            let target = if path.is_empty() { name.as_str() } else { path };
            if !dir.join(target).exists() {
                broken.push(format!("{name}: {link} (no file {target} in the book)"));
            } else if !anchor.is_empty()
                && target.ends_with(".html")
                && !ids.get(target).is_some_and(|ids| ids.contains(anchor))
            {
                broken.push(format!("{name}: {link} (no heading or element with id `{anchor}` in {target})"));
            }
        }
    }
    Ok(broken)
}

/// The values of every `name="..."` attribute in `html`, in order.
fn attribute_values<'a>(html: &'a str, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
    let needle = format!(" {name}=\"");
    let mut rest = html;
    std::iter::from_fn(move || {
        let start = rest.find(&needle)? + needle.len();
        let len = rest[start..].find('"')?;
        let value = &rest[start..start + len];
        rest = &rest[start + len..];
        Some(value)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn page(body: &str) -> String {
        format!("<html><nav><a href=\"gone.html\">sidebar</a></nav><main>{body}</main></html>")
    }

    #[test]
    fn finds_missing_pages_anchors_and_images() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("images")).unwrap();
        std::fs::write(dir.path().join("images/plot.png"), b"png").unwrap();
        std::fs::write(
            dir.path().join("a.html"),
            page(
                "<h2 id=\"setup\">Setup</h2>\
                 <a href=\"#setup\">ok</a> <a href=\"#nowhere\">bad</a>\
                 <a href=\"b.html#measured\">ok</a> <a href=\"b.html#gone\">bad</a>\
                 <a href=\"c.html\">bad</a> <a href=\"https://example.org/x#y\">external</a>\
                 <img src=\"images/plot.png\"> <img src=\"images/missing.png\">",
            ),
        )
        .unwrap();
        std::fs::write(dir.path().join("b.html"), page("<h2 id=\"measured\">Measured</h2>")).unwrap();
        // mdBook's own pages are not checked.
        std::fs::write(dir.path().join("print.html"), page("<a href=\"#nothing\">x</a>")).unwrap();

        let broken = broken_links(dir.path()).unwrap();
        assert_eq!(
            broken,
            [
                "a.html: #nowhere (no heading or element with id `nowhere` in a.html)",
                "a.html: b.html#gone (no heading or element with id `gone` in b.html)",
                "a.html: c.html (no file c.html in the book)",
                "a.html: images/missing.png (no file images/missing.png in the book)",
            ]
        );
    }

    #[test]
    fn a_book_without_bad_links_passes() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("a.html"), page("<h1 id=\"top\">T</h1><a href=\"#top\">up</a>")).unwrap();
        assert!(broken_links(dir.path()).unwrap().is_empty());
    }
}
