//! The crate's one error type: a message with a chain of context, and the exit code it maps to.

use std::fmt;

/// What kind of failure this is; decides the process exit code.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ErrorKind {
    /// Bad command line, bad prototxt, bad model file, bad image: exit code 2.
    Input,
    /// Something failed while running on valid input (I/O, numerical): exit code 1.
    Runtime,
}

/// An error with a human-readable message and the context it happened in (outermost last).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Error {
    kind: ErrorKind,
    message: String,
    context: Vec<String>,
}

/// Result with the crate's error type.
pub type Result<T> = std::result::Result<T, Error>;

impl Error {
    /// An input or usage error (exit code 2).
    pub fn input(message: impl Into<String>) -> Error {
        Error { kind: ErrorKind::Input, message: message.into(), context: Vec::new() }
    }

    /// A runtime failure (exit code 1).
    pub fn runtime(message: impl Into<String>) -> Error {
        Error { kind: ErrorKind::Runtime, message: message.into(), context: Vec::new() }
    }

    /// Adds an outer context line ("while reading model.caffemodel").
    pub fn context(mut self, context: impl Into<String>) -> Error {
        self.context.push(context.into());
        self
    }

    /// The kind of this error.
    pub fn kind(&self) -> ErrorKind {
        self.kind
    }

    /// The innermost message, without context.
    pub fn message(&self) -> &str {
        &self.message
    }

    /// The process exit code for this error.
    pub fn exit_code(&self) -> i32 {
        match self.kind {
            ErrorKind::Input => 2,
            ErrorKind::Runtime => 1,
        }
    }
}

impl fmt::Display for Error {
    /// Outermost context first, then the cause: `a: b: message`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for c in self.context.iter().rev() {
            write!(f, "{c}: ")?;
        }
        f.write_str(&self.message)
    }
}

impl std::error::Error for Error {}

/// Extension to add context to any `Result<T, Error>`.
pub trait Context<T> {
    /// Adds context computed lazily on the error path.
    fn with_context<C: Into<String>>(self, f: impl FnOnce() -> C) -> Result<T>;
}

impl<T> Context<T> for Result<T> {
    fn with_context<C: Into<String>>(self, f: impl FnOnce() -> C) -> Result<T> {
        self.map_err(|e| e.context(f()))
    }
}
