//! The inputs a run reads: which files, in which format, and how each becomes documents.
//! Every problem is an [`InputError`] that names the file (and the line where there is
//! one); it costs that document or that file, never the run.

pub mod feed;
pub mod html;
pub mod jsonl;
pub mod librechat;
pub mod text;

use std::path::{Path, PathBuf};

use crate::document::Document;

/// The formats, chosen by file extension.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// `.json`: a LibreChat conversation export (one, or an array of them).
    LibreChat,
    /// `.jsonl` / `.ndjson`: one `{"id","text","title"?,"metadata"?,"updated_at"?}` per line.
    JsonLines,
    /// `.md` / `.markdown` / `.txt`: one document per file.
    Text,
    /// `.xml` / `.rss` / `.atom`: one document per feed item.
    Feed,
}

impl Format {
    /// The format of `path`, from its extension.
    pub fn of(path: &Path) -> Option<Format> {
        let ext = path.extension()?.to_str()?.to_ascii_lowercase();
        Some(match ext.as_str() {
            "json" => Format::LibreChat,
            "jsonl" | "ndjson" => Format::JsonLines,
            "md" | "markdown" | "txt" => Format::Text,
            "xml" | "rss" | "atom" => Format::Feed,
            _ => return None,
        })
    }
}

/// One file to read.
#[derive(Debug, Clone)]
pub struct InputFile {
    pub path: PathBuf,
    /// The path as given or relative to the directory it was found in: the id of a text
    /// file, so the id does not change when the directory is mounted elsewhere.
    pub name: String,
    pub format: Format,
}

/// A problem with one input, named so the person who made it can fix it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}{}: {detail}", file.display(), line.map(|l| format!(":{l}")).unwrap_or_default())]
pub struct InputError {
    pub file: PathBuf,
    pub line: Option<usize>,
    pub detail: String,
}

impl InputError {
    pub fn new(file: &Path, line: Option<usize>, detail: impl Into<String>) -> Self {
        InputError { file: file.to_owned(), line, detail: detail.into() }
    }
}

/// The files under `paths`: files as given (their format must be known), directories
/// walked in name order (files of unknown formats and hidden entries skipped).
pub fn discover(paths: &[PathBuf]) -> (Vec<InputFile>, Vec<InputError>) {
    let (mut files, mut errors) = (Vec::new(), Vec::new());
    for p in paths {
        match std::fs::metadata(p) {
            Err(e) => errors.push(InputError::new(p, None, format!("cannot read: {e}"))),
            Ok(m) if m.is_dir() => walk(p, p, &mut files, &mut errors),
            Ok(_) => match Format::of(p) {
                Some(format) => files.push(InputFile { path: p.clone(), name: p.display().to_string(), format }),
                None => errors.push(InputError::new(p, None, "unknown format: expected .json (LibreChat), .jsonl, .md, .txt, .xml/.rss/.atom")),
            },
        }
    }
    (files, errors)
}

fn walk(root: &Path, dir: &Path, files: &mut Vec<InputFile>, errors: &mut Vec<InputError>) {
    let mut entries: Vec<_> = match std::fs::read_dir(dir) {
        Ok(rd) => rd.filter_map(Result::ok).map(|e| e.path()).collect(),
        Err(e) => return errors.push(InputError::new(dir, None, format!("cannot list: {e}"))),
    };
    entries.sort();
    for path in entries {
        if path.file_name().and_then(|n| n.to_str()).is_some_and(|n| n.starts_with('.')) {
            continue;
        }
        if path.is_dir() {
            walk(root, &path, files, errors);
        } else if let Some(format) = Format::of(&path) {
            let name = path.strip_prefix(root).unwrap_or(&path).to_string_lossy().replace('\\', "/");
            files.push(InputFile { path, name, format });
        }
    }
}

/// Reads one file into documents, each a document or the reason it is not one. A file
/// larger than `max_bytes` is refused whole: the client runs on a shared node too.
pub fn read(file: &InputFile, max_bytes: u64) -> Vec<Result<Document, InputError>> {
    let fail = |detail: String| vec![Err(InputError::new(&file.path, None, detail))];
    match std::fs::metadata(&file.path) {
        Ok(m) if m.len() > max_bytes => return fail(format!("{} bytes; files over {max_bytes} bytes are skipped (--max-file-bytes)", m.len())),
        Err(e) => return fail(format!("cannot read: {e}")),
        Ok(_) => {}
    }
    let content = match std::fs::read(&file.path) {
        Ok(bytes) => match String::from_utf8(bytes) {
            Ok(s) => s,
            Err(e) => return fail(format!("not UTF-8 text (first bad byte at offset {})", e.utf8_error().valid_up_to())),
        },
        Err(e) => return fail(format!("cannot read: {e}")),
    };
    match file.format {
        Format::LibreChat => librechat::parse(&file.path, &content),
        Format::JsonLines => jsonl::parse(&file.path, &content),
        Format::Text => vec![text::parse(file, &content)],
        Format::Feed => feed::parse(&file.path, &content),
    }
}

/// Metadata every document carries: where it came from and in which format.
pub(crate) fn origin(format: &str, file: &str) -> serde_json::Map<String, serde_json::Value> {
    let mut m = serde_json::Map::new();
    m.insert("format".into(), format.into());
    m.insert("file".into(), file.into());
    m
}
