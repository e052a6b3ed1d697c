//! The documents under `docs/` that the pages are made from, and how a page
//! names a part of one: by file and heading. A heading renamed or a section
//! moved makes the generator fail (and `cargo test` with it) instead of
//! leaving the section out of the page.

use anyhow::Context;

use crate::markdown;

/// Every document a page reads, compiled in: a file renamed or removed
/// is a build error.
const DOCUMENTS: &[(&str, &str)] = &[
    (
        "admin-guide.md",
        include_str!("../../../docs/admin-guide.md"),
    ),
    ("collector.md", include_str!("../../../docs/collector.md")),
    ("monitoring.md", include_str!("../../../docs/monitoring.md")),
    ("protocol.md", include_str!("../../../docs/protocol.md")),
    ("queue.md", include_str!("../../../docs/queue.md")),
    ("security.md", include_str!("../../../docs/security.md")),
    ("shipper.md", include_str!("../../../docs/shipper.md")),
];

/// A part of a document that becomes a part of a page: the section of
/// `docs/FILE` under the heading `heading` (its whole text, at any level),
/// shown under `title`.
#[derive(Debug, Clone, Copy)]
pub struct DocSection {
    pub file: &'static str,
    pub heading: &'static str,
    pub title: &'static str,
}

impl DocSection {
    pub const fn new(file: &'static str, heading: &'static str, title: &'static str) -> Self {
        DocSection {
            file,
            heading,
            title,
        }
    }

    /// The section's Markdown, without its heading line.
    pub fn text(&self) -> anyhow::Result<&'static str> {
        let document = DOCUMENTS
            .iter()
            .find(|(name, _)| *name == self.file)
            .map(|(_, text)| *text)
            .with_context(|| {
                format!(
                    "docs/{} is not one of the documents the man pages read",
                    self.file
                )
            })?;
        markdown::section(document, self.heading).with_context(|| {
            format!(
                "docs/{} has no heading '{}' (renamed or moved?)",
                self.file, self.heading
            )
        })
    }

    /// `.SH TITLE` and the section as roff.
    pub fn as_man_section(&self) -> anyhow::Result<String> {
        Ok(format!(
            ".SH \"{}\"\n{}",
            self.title,
            markdown::to_roff(self.text()?)
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_heading_that_is_not_there_is_an_error_naming_file_and_heading() {
        let renamed = DocSection::new("collector.md", "The collector (renamed)", "X");
        let error = renamed.text().unwrap_err().to_string();
        assert!(
            error.contains("docs/collector.md") && error.contains("The collector (renamed)"),
            "{error}"
        );
        let unknown = DocSection::new("nowhere.md", "The collector (`imgssapi/`)", "X");
        assert!(unknown
            .text()
            .unwrap_err()
            .to_string()
            .contains("docs/nowhere.md"));
    }

    #[test]
    fn a_heading_is_matched_whole_not_by_its_start() {
        // "Metrics and health" must not find "Metrics and health, and more".
        assert!(markdown::section(
            "# T\n## Metrics and health, and more\nx\n",
            "Metrics and health"
        )
        .is_none());
    }
}
