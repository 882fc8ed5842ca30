//! The one error type of the library: a kind, a message, and where it happened.
//!
//! Every error that comes from user input carries a [`Location`] (file, line, key path or
//! template line) so a person can go and fix it. The CLI prints `Display` and the `source()`
//! chain; nothing in the library prints or exits.

use std::fmt;
use std::path::{Path, PathBuf};

/// What went wrong, coarsely; the message says the rest.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ErrorKind {
    /// Reading or writing a file failed.
    Io,
    /// A file is not YAML kiln accepts (syntax, duplicate keys, ambiguous scalars, aliases, ...).
    Yaml,
    /// The YAML is well formed but does not describe a valid platform or environment.
    Model,
    /// A template failed to compile or render, or produced something that is not a manifest.
    Template,
    /// Rendering produced an invalid tree (two objects on one path, a bad name, ...).
    Output,
    /// A path or file kind kiln refuses to touch (symlink, escape from the root, FIFO, ...).
    Unsafe,
    /// Another kiln process holds the lock on the output tree.
    Locked,
}

/// Where an error was found. Paths are relative to the platform root where possible.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Location {
    /// The file, relative to the platform root where possible.
    pub file: PathBuf,
    /// The 1-based line; `None` when the error is about the file as a whole.
    pub line: Option<usize>,
    /// The 1-based column on `line`; `None` when not known.
    pub column: Option<usize>,
    /// The key path inside the file, like `apps.lexilink.web.replicas`.
    pub key: Option<String>,
}

impl Location {
    /// The whole of `file`: no line, column or key.
    pub fn file(file: impl Into<PathBuf>) -> Location {
        Location {
            file: file.into(),
            ..Location::default()
        }
    }

    /// A position in `file` (1-based line and column), without a key.
    pub fn at(file: impl Into<PathBuf>, line: usize, column: usize) -> Location {
        Location {
            file: file.into(),
            line: Some(line),
            column: Some(column),
            key: None,
        }
    }

    /// Sets the key path inside the file; an empty `key` clears it.
    pub fn with_key(mut self, key: impl Into<String>) -> Location {
        let key = key.into();
        self.key = if key.is_empty() { None } else { Some(key) };
        self
    }
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file.display())?;
        if let Some(line) = self.line {
            write!(f, ":{line}")?;
            if let Some(column) = self.column {
                write!(f, ":{column}")?;
            }
        }
        if let Some(key) = &self.key {
            write!(f, " (key `{key}`)")?;
        }
        Ok(())
    }
}

/// The library's error. Boxed inside, so `Result<T, Error>` stays one pointer wide.
#[derive(Debug)]
pub struct Error(Box<Inner>);

#[derive(Debug)]
struct Inner {
    kind: ErrorKind,
    message: String,
    location: Option<Location>,
    source: Option<Box<dyn std::error::Error + Send + Sync + 'static>>,
}

/// `std::result::Result` with the library's [`Error`] as the default error.
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// An error of `kind` saying `message`, with no location and no source.
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Error {
        Error(Box::new(Inner {
            kind,
            message: message.into(),
            location: None,
            source: None,
        }))
    }

    /// Sets where the error happened, replacing any location it had.
    pub fn at(mut self, location: Location) -> Error {
        self.0.location = Some(location);
        self
    }

    /// Sets a location unless one is already known (the innermost location wins).
    pub fn or_at(mut self, location: impl FnOnce() -> Location) -> Error {
        if self.0.location.is_none() {
            self.0.location = Some(location());
        }
        self
    }

    /// Attaches the underlying error, which `source()` returns.
    pub fn with_source(
        mut self,
        source: impl Into<Box<dyn std::error::Error + Send + Sync + 'static>>,
    ) -> Error {
        self.0.source = Some(source.into());
        self
    }

    /// An [`ErrorKind::Io`] error at `path` saying `cannot {what}: {err}`.
    pub fn io(what: impl fmt::Display, path: &Path, err: std::io::Error) -> Error {
        Error::new(ErrorKind::Io, format!("cannot {what}: {err}")).at(Location::file(path))
    }

    /// What kind of error this is.
    pub fn kind(&self) -> ErrorKind {
        self.0.kind
    }

    /// The message, without the location.
    pub fn message(&self) -> &str {
        &self.0.message
    }

    /// Where the error happened; `None` when it is not tied to a file.
    pub fn location(&self) -> Option<&Location> {
        self.0.location.as_ref()
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.0.location {
            Some(location) => write!(f, "{location}: {}", self.0.message),
            None => f.write_str(&self.0.message),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.0
            .source
            .as_deref()
            .map(|s| s as &(dyn std::error::Error + 'static))
    }
}
