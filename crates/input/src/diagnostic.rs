//! Errors in the files a user hands to Cordon (configs, playbooks, signals),
//! located by file, line, column and field.
//!
//! Every input parser in the host reports problems as [`InputErrors`], so the
//! CLI can print them uniformly and exit with code 2 before anything runs.

use std::fmt;
use std::ops::Range;
use std::path::{Path, PathBuf};

/// The text of an input file, kept to turn byte offsets into line and column.
#[derive(Debug, Clone)]
pub struct SourceFile {
    /// The file's path, as given.
    pub path: PathBuf,
    /// The file's full text.
    pub text: String,
}

impl SourceFile {
    /// Reads a file, reporting a missing or unreadable file as an [`InputErrors`].
    pub fn read(path: &Path) -> Result<SourceFile, InputErrors> {
        match std::fs::read_to_string(path) {
            Ok(text) => Ok(SourceFile {
                path: path.to_path_buf(),
                text,
            }),
            Err(err) => {
                Err(InputError::whole_file(path, format!("cannot read file: {err}")).into())
            }
        }
    }

    /// Wraps text that did not come from disk (e.g. a stored playbook).
    pub fn from_text(path: impl Into<PathBuf>, text: impl Into<String>) -> SourceFile {
        SourceFile {
            path: path.into(),
            text: text.into(),
        }
    }

    /// 1-based line and column (in characters) of a byte offset.
    pub fn line_col(&self, offset: usize) -> (usize, usize) {
        let offset = offset.min(self.text.len());
        let before = &self.text[..floor_char_boundary(&self.text, offset)];
        let line = before.matches('\n').count() + 1;
        let line_start = before.rfind('\n').map(|i| i + 1).unwrap_or(0);
        let column = before[line_start..].chars().count() + 1;
        (line, column)
    }

    /// An error located at the start of `span`.
    pub fn error_at(
        &self,
        span: Option<Range<usize>>,
        field: impl Into<String>,
        message: impl Into<String>,
    ) -> InputError {
        let (line, column) = span.map(|s| self.line_col(s.start)).unwrap_or((1, 1));
        InputError {
            path: self.path.clone(),
            line,
            column,
            field: field.into(),
            message: message.into(),
        }
    }
}

fn floor_char_boundary(text: &str, mut offset: usize) -> usize {
    while offset > 0 && !text.is_char_boundary(offset) {
        offset -= 1;
    }
    offset
}

/// One problem in an input file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InputError {
    /// The file with the problem.
    pub path: PathBuf,
    /// 1-based line of the problem.
    pub line: usize,
    /// 1-based column (in characters) of the problem.
    pub column: usize,
    /// The field at fault, as a path (`step[1].action`), or empty for the whole file.
    pub field: String,
    /// What is wrong.
    pub message: String,
}

impl InputError {
    /// An error about a file as a whole (missing, unreadable).
    pub fn whole_file(path: &Path, message: impl Into<String>) -> InputError {
        InputError {
            path: path.to_path_buf(),
            line: 1,
            column: 1,
            field: String::new(),
            message: message.into(),
        }
    }
}

impl fmt::Display for InputError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{}: ", self.path.display(), self.line, self.column)?;
        if !self.field.is_empty() {
            write!(f, "{}: ", self.field)?;
        }
        f.write_str(&self.message)
    }
}

impl std::error::Error for InputError {}

/// One or more problems found in input files; nothing was executed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct InputErrors(pub Vec<InputError>);

impl InputErrors {
    /// Adds a problem.
    pub fn push(&mut self, error: InputError) {
        self.0.push(error);
    }

    /// Whether no problem was found.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// `Ok(value)` when no problem was found, the problems otherwise.
    pub fn into_result<T>(self, value: T) -> Result<T, InputErrors> {
        if self.0.is_empty() {
            Ok(value)
        } else {
            Err(self)
        }
    }
}

impl From<InputError> for InputErrors {
    fn from(error: InputError) -> Self {
        InputErrors(vec![error])
    }
}

impl fmt::Display for InputErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, error) in self.0.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{error}")?;
        }
        Ok(())
    }
}

impl std::error::Error for InputErrors {}

/// Turns a problem found after parsing (e.g. a missing secret) into an input error.
pub fn located_error(location: &str, field: String, message: String) -> InputError {
    let mut parts = location.rsplitn(3, ':');
    let column = parts.next().and_then(|c| c.parse().ok()).unwrap_or(1);
    let line = parts.next().and_then(|l| l.parse().ok()).unwrap_or(1);
    let path = parts.next().unwrap_or(location);
    InputError {
        path: PathBuf::from(path),
        line,
        column,
        field,
        message,
    }
}

/// Deserializes a TOML file, reporting syntax and type errors with the path
/// of the offending field and its line and column.
pub fn from_toml<T: serde::de::DeserializeOwned>(source: &SourceFile) -> Result<T, InputErrors> {
    let deserializer = match toml::Deserializer::parse(&source.text) {
        Ok(deserializer) => deserializer,
        Err(err) => return Err(source.error_at(err.span(), "", err.message().trim()).into()),
    };
    serde_path_to_error::deserialize(deserializer).map_err(|err| {
        let field = field_path(err.path());
        let inner = err.into_inner();
        source
            .error_at(inner.span(), field, inner.message().trim())
            .into()
    })
}

/// Deserializes a JSON file, reporting syntax and type errors with the path
/// of the offending field and its line and column.
pub fn from_json<T: serde::de::DeserializeOwned>(source: &SourceFile) -> Result<T, InputErrors> {
    let mut deserializer = serde_json::Deserializer::from_str(&source.text);
    let value: T = serde_path_to_error::deserialize(&mut deserializer).map_err(|err| {
        let field = field_path(err.path());
        json_error(source, field, err.into_inner())
    })?;
    deserializer
        .end()
        .map_err(|err| json_error(source, String::new(), err))?;
    Ok(value)
}

fn json_error(source: &SourceFile, field: String, err: serde_json::Error) -> InputErrors {
    let mut message = err.to_string();
    // serde_json appends " at line L column C"; we print the location up front.
    if let Some(idx) = message.rfind(" at line ") {
        message.truncate(idx);
    }
    InputError {
        path: source.path.clone(),
        line: err.line().max(1),
        column: err.column().max(1),
        field,
        message,
    }
    .into()
}

/// `step[0].retries`, skipping the wrappers `toml::Spanned` adds.
fn field_path(path: &serde_path_to_error::Path) -> String {
    use serde_path_to_error::Segment;
    let mut text = String::new();
    for segment in path.iter() {
        match segment {
            Segment::Seq { index } => text.push_str(&format!("[{index}]")),
            Segment::Map { key } if key.starts_with("$__serde_spanned") => {}
            Segment::Map { key } | Segment::Enum { variant: key } => {
                if !text.is_empty() {
                    text.push('.');
                }
                text.push_str(key);
            }
            Segment::Unknown => {}
        }
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_and_column_are_one_based_and_count_characters() {
        let source = SourceFile::from_text("x.toml", "a = 1\nbé = 2\n");
        assert_eq!(source.line_col(0), (1, 1));
        assert_eq!(source.line_col(6), (2, 1));
        // 'é' is two bytes: the '=' after it is the 4th character.
        assert_eq!(source.line_col(10), (2, 4));
    }

    #[test]
    fn toml_type_errors_name_field_line_and_column() {
        #[derive(serde::Deserialize, Debug)]
        #[allow(dead_code)]
        struct Doc {
            limits: Limits,
        }
        #[derive(serde::Deserialize, Debug)]
        #[allow(dead_code)]
        struct Limits {
            timeout_ms: u64,
        }
        let source = SourceFile::from_text("c.toml", "[limits]\ntimeout_ms = \"soon\"\n");
        let err = from_toml::<Doc>(&source).unwrap_err();
        let err = &err.0[0];
        assert_eq!((err.line, err.column), (2, 14));
        assert_eq!(err.field, "limits.timeout_ms");
        assert!(err.message.contains("invalid type"), "{}", err.message);
    }

    #[test]
    fn json_errors_name_field_line_and_column() {
        #[derive(serde::Deserialize, Debug)]
        #[allow(dead_code)]
        struct Doc {
            items: Vec<u32>,
        }
        let source = SourceFile::from_text("s.json", "{\n  \"items\": [1, \"two\"]\n}");
        let err = from_json::<Doc>(&source).unwrap_err();
        let err = &err.0[0];
        assert_eq!(err.field, "items[1]");
        assert_eq!(err.line, 2);
        assert!(err.to_string().starts_with("s.json:2:"), "{err}");
    }
}
