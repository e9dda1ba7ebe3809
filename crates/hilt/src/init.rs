//! `hilt init <dir>`: a project to start from.
//!
//! It writes a complete project for a firmware app of the user's own (see
//! the README's "Your own firmware app" and docs/tutorial.md): a `no_std`
//! app crate with one example app (a lamp with a push button) and its unit
//! tests on embedded-hal-mock, the app's registration, the project's own
//! command line (`hilt::main_with`), a scenarios folder with a passing
//! scenario run as one test per file, an ESP32-C3 image crate for the app
//! with Wokwi's wokwi.toml and diagram.json, a `.ci/run` script and a
//! GitHub workflow. The templates are in `templates/project/` (manifests as
//! `Cargo.toml.in`, since Cargo leaves a folder with a `Cargo.toml` out of
//! the package); the image's
//! glue that is the bundled image's own (clock, link, serial) is a copy of
//! firmware/src, which a test keeps identical.

use std::path::{Path, PathBuf};

/// Where the project depends on hilt from when `--hilt-path` is not given.
///
/// A placeholder until hilt's repository is published: a project generated
/// with it names this URL, and building it needs the real one (edit the
/// three `git = ...` lines, or give `--hilt-git <url>` or `--hilt-path
/// <checkout>` to `hilt init`).
pub const DEFAULT_HILT_GIT: &str = "https://github.com/hilt-rs/hilt";

/// Where the generated project takes hilt's crates from.
#[derive(Clone, Debug)]
pub enum HiltSource {
    /// A checkout of hilt's repository (its root folder).
    Path(PathBuf),
    /// A git repository holding hilt's workspace.
    Git(String),
}

/// Why `hilt init` wrote nothing (or stopped part-way, for a write error).
#[derive(Debug, thiserror::Error)]
pub enum InitError {
    /// The folder exists and is not empty: nothing is overwritten.
    #[error("{}: the folder exists and is not empty; hilt init writes only into a new or empty folder", .0.display())]
    NotEmpty(PathBuf),
    /// The project's name, from the folder's, is not a Cargo package name.
    #[error(
        "'{0}' cannot name a Cargo package (start with a letter; letters, digits, '-' and '_' \
         only); pass --name"
    )]
    BadName(String),
    /// `--hilt-path` is not a checkout of hilt.
    #[error("{}: not a checkout of hilt (no crates/hilt-firmware/Cargo.toml there)", .0.display())]
    NotHilt(PathBuf),
    /// A file could not be written.
    #[error("cannot write {}: {source}", path.display())]
    Write {
        /// The file or folder.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
}

/// A dependency specification, `{ ... }`, with hilt-board's `embassy-net`
/// feature on.
fn with_embassy_net(specification: String) -> String {
    match specification.strip_suffix(" }") {
        Some(start) => format!("{start}, features = [\"embassy-net\"] }}"),
        None => specification,
    }
}

/// The project's files, as templates: `{{name}}` is the package name,
/// `{{crate}}` the same as a Rust identifier, `{{hilt}}`,
/// `{{hilt_firmware}}`, `{{hilt_board}}` (with its `embassy-net` feature) and
/// `{{hilt_grammar}}` the dependency specifications. (hilt's patched broker, hilt-rumqttd, comes with hilt.)
const TEMPLATES: &[(&str, &str)] = &[
    (
        "Cargo.toml",
        include_str!("../templates/project/Cargo.toml.in"),
    ),
    ("README.md", include_str!("../templates/project/README.md")),
    (
        ".gitignore",
        include_str!("../templates/project/.gitignore"),
    ),
    (
        "src/lib.rs",
        include_str!("../templates/project/src/lib.rs"),
    ),
    (
        "src/main.rs",
        include_str!("../templates/project/src/main.rs"),
    ),
    (
        "tests/scenarios.rs",
        include_str!("../templates/project/tests/scenarios.rs"),
    ),
    (
        "scenarios/lamp.yaml",
        include_str!("../templates/project/scenarios/lamp.yaml"),
    ),
    (
        "scenarios/mqtt_switch.yaml",
        include_str!("../templates/project/scenarios/mqtt_switch.yaml"),
    ),
    (
        "app/Cargo.toml",
        include_str!("../templates/project/app/Cargo.toml.in"),
    ),
    (
        "app/src/lib.rs",
        include_str!("../templates/project/app/src/lib.rs"),
    ),
    (
        "app/src/pins.rs",
        include_str!("../templates/project/app/src/pins.rs"),
    ),
    (
        "image/Cargo.toml",
        include_str!("../templates/project/image/Cargo.toml.in"),
    ),
    (
        "image/.cargo/config.toml",
        include_str!("../templates/project/image/.cargo/config.toml"),
    ),
    (
        "image/build.rs",
        include_str!("../templates/project/image/build.rs"),
    ),
    (
        "image/src/main.rs",
        include_str!("../templates/project/image/src/main.rs"),
    ),
    (
        "image/src/board.rs",
        include_str!("../templates/project/image/src/board.rs"),
    ),
    (
        "image/src/settings.rs",
        include_str!("../templates/project/image/src/settings.rs"),
    ),
    (
        "image/src/link.rs",
        include_str!("../templates/project/image/src/link.rs"),
    ),
    (
        "image/src/serial.rs",
        include_str!("../templates/project/image/src/serial.rs"),
    ),
    (
        "image/wokwi.toml",
        include_str!("../templates/project/image/wokwi.toml"),
    ),
    (
        "image/diagram.json",
        include_str!("../templates/project/image/diagram.json"),
    ),
    (".ci/run", include_str!("../templates/project/.ci/run")),
    (
        ".github/workflows/ci.yml",
        include_str!("../templates/project/.github/workflows/ci.yml"),
    ),
];

/// The files of a project named after `dir` (or `name`), depending on hilt
/// from `source`: each relative path with its contents.
pub fn project_files(
    dir: &Path,
    name: Option<&str>,
    source: &HiltSource,
) -> Result<Vec<(PathBuf, String)>, InitError> {
    let name = match name {
        Some(name) => name.to_owned(),
        None => dir
            .file_name()
            .map(|name| name.to_string_lossy().into_owned())
            .unwrap_or_default(),
    };
    let valid = name
        .chars()
        .next()
        .is_some_and(|first| first.is_ascii_alphabetic())
        && name
            .chars()
            .all(|character| character.is_ascii_alphanumeric() || "-_".contains(character));
    if !valid {
        return Err(InitError::BadName(name));
    }
    let crate_name = name.replace('-', "_");
    let dependency = |folder: &str| match source {
        HiltSource::Path(root) => {
            format!("{{ path = {:?} }}", root.join(folder).to_string_lossy())
        }
        HiltSource::Git(url) => format!("{{ git = {url:?} }}"),
    };
    let replacements = [
        ("{{name}}", name.clone()),
        ("{{crate}}", crate_name),
        ("{{hilt}}", dependency("crates/hilt")),
        ("{{hilt_firmware}}", dependency("crates/hilt-firmware")),
        // The image runs the glue over hilt-board's adapter to embassy-net.
        (
            "{{hilt_board}}",
            with_embassy_net(dependency("crates/hilt-board")),
        ),
        ("{{hilt_grammar}}", dependency("crates/hilt-grammar")),
    ];
    Ok(TEMPLATES
        .iter()
        .map(|(path, template)| {
            let mut text = (*template).to_owned();
            for (placeholder, value) in &replacements {
                text = text.replace(placeholder, value);
            }
            (PathBuf::from(path), text)
        })
        .collect())
}

/// Writes the project into `dir`, which must not exist or be empty.
/// Returns the files written, relative to `dir`.
pub fn init(
    dir: &Path,
    name: Option<&str>,
    source: &HiltSource,
) -> Result<Vec<PathBuf>, InitError> {
    let source = match source {
        HiltSource::Path(root) => {
            // Absolute, so the same path works from the project root, app/
            // and image/.
            let root = std::fs::canonicalize(root).map_err(|_| InitError::NotHilt(root.clone()))?;
            if !root.join("crates/hilt-firmware/Cargo.toml").is_file() {
                return Err(InitError::NotHilt(root));
            }
            HiltSource::Path(root)
        }
        git => git.clone(),
    };
    let files = project_files(dir, name, &source)?;
    let not_empty = std::fs::read_dir(dir).is_ok_and(|mut entries| entries.next().is_some());
    if not_empty {
        return Err(InitError::NotEmpty(dir.to_owned()));
    }
    let mut written = Vec::new();
    for (relative, text) in files {
        let path = dir.join(&relative);
        let write_error = |source| InitError::Write {
            path: path.clone(),
            source,
        };
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).map_err(write_error)?;
        }
        std::fs::write(&path, text).map_err(write_error)?;
        if relative == Path::new(".ci/run") {
            make_executable(&path).map_err(write_error)?;
        }
        written.push(relative);
    }
    Ok(written)
}

#[cfg(unix)]
fn make_executable(path: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755))
}

#[cfg(not(unix))]
fn make_executable(_path: &Path) -> std::io::Result<()> {
    Ok(())
}
