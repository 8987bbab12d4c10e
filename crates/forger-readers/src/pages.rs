//! The reader page, its script and the stylesheet the results share.

/// The reader page: sign-in (`#reader-name`, `#reader-level`, `#start`),
/// then one case at a time.
pub(crate) const READER_HTML: &str = include_str!("assets/reader.html");
/// The reader page's script.
pub(crate) const READER_JS: &str = include_str!("assets/reader.js");
/// The stylesheet of the reader and results pages.
pub(crate) const READER_CSS: &str = include_str!("assets/reader.css");
