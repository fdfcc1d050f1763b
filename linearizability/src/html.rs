//! A self-contained, offline HTML timeline of a checked history.

use crate::analysis::Analysis;

/// Renders `analysis` as one HTML document.
pub fn render(title: &str, analysis: &Analysis) -> String {
    let _ = analysis;
    format!("<!doctype html><title>{}</title>", escape(title))
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}
