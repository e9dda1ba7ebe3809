//! Reading a scenario file from disk, safely: whole or not at all.
//!
//! What is at a path is checked before it is opened, so that a FIFO, a
//! device such as `/dev/zero` or a socket is refused instead of blocking or
//! being read without end; a regular file larger than [`MAX_FILE_BYTES`] is
//! refused unread, and reading never takes more than one byte past the limit
//! (the file may grow after the check). Why a path cannot be read is said in
//! one plain sentence.

use std::fs::{File, Metadata};
use std::io::Read as _;
use std::path::{Path, PathBuf};

use crate::{Diagnostic, Diagnostics, Location};

/// The largest scenario file hilt reads: 4 MiB. Scenarios are a few
/// kilobytes; a larger file is surely not one (a log, an image, a mistake).
pub const MAX_FILE_BYTES: u64 = 4 * 1024 * 1024;

/// `4 MiB (4194304 bytes)`, for messages.
fn limit_text() -> String {
    format!(
        "{} MiB ({MAX_FILE_BYTES} bytes)",
        MAX_FILE_BYTES / (1024 * 1024)
    )
}

/// The text of the scenario file at `path`, or why it cannot be read, as a
/// whole-file diagnostic (or a placed one for text that is not UTF-8).
pub(crate) fn read_scenario_text(path: &Path) -> Result<String, Diagnostics> {
    let whole_file = |message: String| Diagnostics(vec![Diagnostic::whole_file(path, message)]);
    let bytes = read_bounded(path).map_err(whole_file)?;
    String::from_utf8(bytes).map_err(|error| {
        let valid = &error.as_bytes()[..error.utf8_error().valid_up_to()];
        // Everything before the bad byte is valid UTF-8, so this is exact.
        let before = String::from_utf8_lossy(valid);
        // A byte order mark is not a column anyone sees.
        let before = before.strip_prefix('\u{feff}').unwrap_or(&before);
        let line = before.matches('\n').count() + 1;
        let column = before
            .rsplit('\n')
            .next()
            .map_or(0, |last| last.chars().count())
            + 1;
        Diagnostics(vec![Diagnostic::new(
            path,
            Location { line, column },
            "the file is not UTF-8 text; save it as UTF-8",
        )])
    })
}

/// The bytes of the regular file at `path`, at most [`MAX_FILE_BYTES`].
fn read_bounded(path: &Path) -> Result<Vec<u8>, String> {
    // `metadata` follows symbolic links and opens nothing.
    let metadata = std::fs::metadata(path).map_err(|error| file_problem(path, &error))?;
    refuse_unless_regular(&metadata)?;
    if metadata.len() > MAX_FILE_BYTES {
        return Err(too_large(Some(metadata.len())));
    }
    let file = File::open(path).map_err(|error| file_problem(path, &error))?;
    // What was opened may not be what was looked at a moment ago.
    let opened = file
        .metadata()
        .map_err(|error| file_problem(path, &error))?;
    refuse_unless_regular(&opened)?;
    let mut bytes = Vec::new();
    file.take(MAX_FILE_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(|error| file_problem(path, &error))?;
    if bytes.len() as u64 > MAX_FILE_BYTES {
        return Err(too_large(None));
    }
    Ok(bytes)
}

/// The file is over the limit; `size` when known before reading.
fn too_large(size: Option<u64>) -> String {
    let size = size.map_or_else(String::new, |size| format!("{size} bytes, "));
    format!(
        "the file is {size}more than the {} a scenario file may be; \
         a scenario is a few kilobytes of YAML, so check that this is the file you meant",
        limit_text()
    )
}

/// Refuses anything but a regular file, saying what it is.
fn refuse_unless_regular(metadata: &Metadata) -> Result<(), String> {
    let file_type = metadata.file_type();
    if file_type.is_file() {
        return Ok(());
    }
    if file_type.is_dir() {
        return Err(
            "a folder, not a scenario file; name the folder itself to run every *.yaml in it"
                .to_owned(),
        );
    }
    Err(format!(
        "{}, not a regular file; hilt reads scenarios only from regular files",
        special_file_kind(metadata)
    ))
}

#[cfg(unix)]
fn special_file_kind(metadata: &Metadata) -> &'static str {
    use std::os::unix::fs::FileTypeExt as _;
    let file_type = metadata.file_type();
    if file_type.is_fifo() {
        "a FIFO (named pipe)"
    } else if file_type.is_char_device() {
        "a character device"
    } else if file_type.is_block_device() {
        "a block device"
    } else if file_type.is_socket() {
        "a socket"
    } else {
        "a special file"
    }
}

#[cfg(not(unix))]
fn special_file_kind(_metadata: &Metadata) -> &'static str {
    "a special file"
}

/// Why `path` cannot be read, as a plain sentence without the path (it is
/// shown before it, as in `scenarios/x.yaml: no such file`). A symbolic link
/// that loops or leads nowhere is named as such.
pub fn file_problem(path: &Path, error: &std::io::Error) -> String {
    if let Some(problem) = symbolic_link_problem(path) {
        return problem;
    }
    match error.kind() {
        std::io::ErrorKind::NotFound => "no such file".to_owned(),
        std::io::ErrorKind::PermissionDenied => "permission denied; cannot read it".to_owned(),
        std::io::ErrorKind::NotADirectory => {
            "no such file (a part of the path is not a folder)".to_owned()
        }
        _ => format!("cannot read it: {error}"),
    }
}

/// How many links a chain may have before it counts as a loop, as Linux's
/// own limit.
const MOST_LINKS: usize = 40;

/// When `path` is a symbolic link that does not end at something that
/// exists: whether it loops, or where it points that does not exist.
fn symbolic_link_problem(path: &Path) -> Option<String> {
    let mut current = path.to_path_buf();
    let mut seen: Vec<PathBuf> = Vec::new();
    loop {
        match std::fs::symlink_metadata(&current) {
            Ok(metadata) if metadata.file_type().is_symlink() => {}
            // The end of the chain: only a problem if that is not `path`.
            Ok(_) => return None,
            Err(_) if seen.is_empty() => return None,
            Err(_) => {
                return Some(format!(
                    "a symbolic link to {}, which does not exist",
                    current.display()
                ));
            }
        }
        if seen.contains(&current) || seen.len() >= MOST_LINKS {
            return Some(
                "a symbolic link that leads back to itself (a loop); point it at a real file"
                    .to_owned(),
            );
        }
        let target = std::fs::read_link(&current).ok()?;
        let next = match current.parent() {
            Some(parent) if target.is_relative() => parent.join(&target),
            _ => target,
        };
        seen.push(current);
        current = next;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_limit_is_four_mebibytes() {
        assert_eq!(MAX_FILE_BYTES, 4_194_304);
        assert_eq!(limit_text(), "4 MiB (4194304 bytes)");
    }

    #[test]
    fn a_missing_file_is_one_plain_sentence() {
        let path = Path::new("tests/no-such-file.yaml");
        let error = std::fs::metadata(path).unwrap_err();
        assert_eq!(file_problem(path, &error), "no such file");
    }

    #[cfg(unix)]
    #[test]
    fn a_character_device_is_refused_by_its_metadata() {
        let metadata = std::fs::metadata("/dev/null").unwrap();
        assert_eq!(
            refuse_unless_regular(&metadata).unwrap_err(),
            "a character device, not a regular file; hilt reads scenarios only from regular files"
        );
    }
}
