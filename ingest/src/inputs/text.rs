//! Markdown and plain text files: one document per file, its id the file's path under the
//! directory given, its title the first Markdown heading (or the file name), its time the
//! file's modification time.

use chrono::{DateTime, Utc};

use super::{origin, InputError, InputFile};
use crate::document::Document;

pub fn parse(file: &InputFile, content: &str) -> Result<Document, InputError> {
    if content.trim().is_empty() {
        return Err(InputError::new(&file.path, None, "empty file"));
    }
    let markdown = !file.path.extension().is_some_and(|e| e.eq_ignore_ascii_case("txt"));
    let heading = markdown
        .then(|| content.lines().find_map(|l| l.trim().strip_prefix("# ").map(str::trim).filter(|t| !t.is_empty())))
        .flatten();
    let stem = file.path.file_stem().map(|s| s.to_string_lossy().into_owned());
    let updated_at = std::fs::metadata(&file.path).and_then(|m| m.modified()).ok().map(DateTime::<Utc>::from);
    Ok(Document {
        id: file.name.clone(),
        text: content.to_owned(),
        title: heading.map(str::to_owned).or(stem),
        metadata: origin(if markdown { "markdown" } else { "text" }, &file.name),
        updated_at,
    })
}
