//! The one error type of this crate.

/// Errors from compiling or evaluating an expression. Compile errors name the expression,
/// the 1-based character position and what to write instead.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum Error {
    /// The expression does not parse.
    #[error("expression `{expr}`: at position {position}: expected {expected}, found {found}")]
    Syntax {
        /// The expression as written.
        expr: String,
        /// 1-based character position.
        position: usize,
        /// What the parser expected.
        expected: String,
        /// What it found.
        found: String,
    },
    /// A name that is neither an input nor a request field.
    #[error("expression `{expr}`: at position {position}: unknown name `{name}` (hint: the names are {known})")]
    UnknownName {
        /// The expression.
        expr: String,
        /// 1-based character position.
        position: usize,
        /// The name written.
        name: String,
        /// The names that can be used.
        known: String,
    },
    /// A call of a function that does not exist.
    #[error("expression `{expr}`: at position {position}: unknown function `{name}` (hint: the functions are {known})")]
    UnknownFunction {
        /// The expression.
        expr: String,
        /// 1-based character position.
        position: usize,
        /// The name written.
        name: String,
        /// The functions.
        known: String,
    },
    /// Operands or arguments of the wrong type, or a call with the wrong number of them.
    #[error("expression `{expr}`: at position {position}: {message}")]
    Type {
        /// The expression.
        expr: String,
        /// 1-based character position.
        position: usize,
        /// What is wrong and what to write.
        message: String,
    },
    /// An input value of another type than the expression was compiled for (a bug in the
    /// caller, which must convert values to the declared types).
    #[error("input `{name}` holds {got}, but the expression was compiled for {expected}")]
    InputType {
        /// The input.
        name: String,
        /// Its declared type.
        expected: &'static str,
        /// What was given.
        got: String,
    },
    /// Not as many input values as the expression has inputs (a bug in the caller).
    #[error("the expression has {want} inputs but was given {got} values")]
    InputCount {
        /// Inputs compiled for.
        want: usize,
        /// Values given.
        got: usize,
    },
}

/// Result with [`Error`] as the default error.
pub type Result<T, E = Error> = std::result::Result<T, E>;
