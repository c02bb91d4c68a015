//! The lexer shared by Tessera's expression languages: aggregation filters (this crate)
//! and on-demand feature expressions (`tessera-expr`). One tokenizer, so a literal, a
//! quoted name or a comparison reads the same in both.

use std::cmp::Ordering;

use crate::error::{Error, Result};

/// A comparison operator.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[allow(missing_docs)] // the variants are the operators they name
pub enum CmpOp {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
}

impl CmpOp {
    /// The operator as written (`=`, `!=`, `<` …).
    pub fn symbol(self) -> &'static str {
        match self {
            CmpOp::Eq => "=",
            CmpOp::Ne => "!=",
            CmpOp::Lt => "<",
            CmpOp::Le => "<=",
            CmpOp::Gt => ">",
            CmpOp::Ge => ">=",
        }
    }

    /// Whether an ordering satisfies the operator.
    pub fn test(self, o: Ordering) -> bool {
        match self {
            CmpOp::Eq => o == Ordering::Equal,
            CmpOp::Ne => o != Ordering::Equal,
            CmpOp::Lt => o == Ordering::Less,
            CmpOp::Le => o != Ordering::Greater,
            CmpOp::Gt => o == Ordering::Greater,
            CmpOp::Ge => o != Ordering::Less,
        }
    }
}

/// A token.
#[derive(Clone, Debug, PartialEq)]
#[allow(missing_docs)] // the variants are the tokens they name
pub enum Tok {
    Ident(String),
    QuotedIdent(String),
    Str(String),
    Int(i64),
    Float(f64),
    And,
    Or,
    Not,
    In,
    Is,
    Null,
    True,
    False,
    Op(CmpOp),
    LParen,
    RParen,
    Comma,
    /// `+`
    Plus,
    /// `-` (a minus right before a number that does not follow a value is the number's sign)
    Minus,
    /// `*`
    Star,
    /// `/`
    Slash,
    /// `%`
    Percent,
    End,
}

/// A token and its 1-based character position.
#[derive(Clone, Debug)]
pub struct Token {
    /// The token.
    pub tok: Tok,
    /// Where it starts.
    pub pos: usize,
}

/// How a token is named in error messages.
pub fn describe(tok: &Tok) -> String {
    match tok {
        Tok::Ident(s) => format!("column `{s}`"),
        Tok::QuotedIdent(s) => format!("column \"{s}\""),
        Tok::Str(s) => format!("string '{s}'"),
        Tok::Int(v) => format!("number {v}"),
        Tok::Float(v) => format!("number {v}"),
        Tok::And => "`and`".into(),
        Tok::Or => "`or`".into(),
        Tok::Not => "`not`".into(),
        Tok::In => "`in`".into(),
        Tok::Is => "`is`".into(),
        Tok::Null => "`null`".into(),
        Tok::True => "`true`".into(),
        Tok::False => "`false`".into(),
        Tok::Op(op) => format!("`{}`", op.symbol()),
        Tok::LParen => "`(`".into(),
        Tok::RParen => "`)`".into(),
        Tok::Comma => "`,`".into(),
        Tok::Plus => "`+`".into(),
        Tok::Minus => "`-`".into(),
        Tok::Star => "`*`".into(),
        Tok::Slash => "`/`".into(),
        Tok::Percent => "`%`".into(),
        Tok::End => "end of input".into(),
    }
}

/// A syntax error at `pos`.
pub fn syntax(src: &str, pos: usize, expected: &str, found: impl Into<String>) -> Error {
    Error::FilterSyntax {
        expr: src.to_owned(),
        position: pos,
        expected: expected.to_owned(),
        found: found.into(),
    }
}

/// Splits `src` into tokens, ending with [`Tok::End`]. Arithmetic operators are tokens
/// here; the filter parser refuses them where it expects something else.
//
// One function on purpose (~180 lines): a lexer is one loop over the characters with one
// match arm per token class, read top to bottom like the grammar; split up, the arms would
// only pass the cursor around.
pub fn lex(src: &str) -> Result<Vec<Token>> {
    let chars: Vec<char> = src.chars().collect();
    let mut toks = Vec::new();
    let mut i = 0;
    let at = |i: usize| chars.get(i).copied();
    while let Some(c) = at(i) {
        let pos = i + 1;
        if c.is_whitespace() {
            i += 1;
            continue;
        }
        // A `-` after a value (`a - 1`, `(x) -2`) is the operator, else a number's sign.
        let after_value = toks.last().is_some_and(|t: &Token| {
            matches!(
                t.tok,
                Tok::Ident(_)
                    | Tok::QuotedIdent(_)
                    | Tok::Str(_)
                    | Tok::Int(_)
                    | Tok::Float(_)
                    | Tok::Null
                    | Tok::True
                    | Tok::False
                    | Tok::RParen
            )
        });
        let starts_number = c.is_ascii_digit()
            || (c == '.' && at(i + 1).is_some_and(|d| d.is_ascii_digit()))
            || (c == '-' && !after_value && at(i + 1).is_some_and(|d| d.is_ascii_digit()))
            || (c == '-'
                && !after_value
                && at(i + 1) == Some('.')
                && at(i + 2).is_some_and(|d| d.is_ascii_digit()));
        let tok = if starts_number {
            let start = i;
            let mut is_float = false;
            if c == '-' {
                i += 1;
            }
            while let Some(d) = at(i) {
                if d.is_ascii_digit() {
                    i += 1;
                } else if d == '.' && !is_float {
                    is_float = true;
                    i += 1;
                } else if (d == 'e' || d == 'E')
                    && (at(i + 1).is_some_and(|x| x.is_ascii_digit())
                        || (matches!(at(i + 1), Some('+' | '-'))
                            && at(i + 2).is_some_and(|x| x.is_ascii_digit())))
                {
                    is_float = true;
                    i += 2;
                    while at(i).is_some_and(|x| x.is_ascii_digit()) {
                        i += 1;
                    }
                    break;
                } else {
                    break;
                }
            }
            let text: String = chars.get(start..i).unwrap_or_default().iter().collect();
            if at(i).is_some_and(|x| x.is_alphanumeric() || x == '_' || x == '.') {
                return Err(syntax(
                    src,
                    i + 1,
                    "an operator or a space after the number",
                    format!("`{}`", at(i).unwrap_or(' ')),
                ));
            }
            if is_float {
                match text.parse::<f64>() {
                    Ok(v) if v.is_finite() => Tok::Float(v),
                    _ => return Err(syntax(src, pos, "a finite number", format!("`{text}`"))),
                }
            } else {
                match text.parse::<i64>() {
                    Ok(v) => Tok::Int(v),
                    Err(_) => {
                        return Err(syntax(
                            src,
                            pos,
                            "an integer within the 64-bit range",
                            format!("`{text}`"),
                        ))
                    }
                }
            }
        } else if c.is_ascii_alphabetic() || c == '_' {
            let start = i;
            while at(i).is_some_and(|x| x.is_ascii_alphanumeric() || x == '_') {
                i += 1;
            }
            let word: String = chars.get(start..i).unwrap_or_default().iter().collect();
            match word.to_ascii_lowercase().as_str() {
                "and" => Tok::And,
                "or" => Tok::Or,
                "not" => Tok::Not,
                "in" => Tok::In,
                "is" => Tok::Is,
                "null" => Tok::Null,
                "true" => Tok::True,
                "false" => Tok::False,
                _ => Tok::Ident(word),
            }
        } else if c == '\'' || c == '"' {
            // 'string' or "identifier"; a doubled quote is an escaped quote.
            let mut text = String::new();
            i += 1;
            loop {
                match at(i) {
                    None => {
                        return Err(syntax(
                            src,
                            pos,
                            &format!("a closing {c} for the one at position {pos}"),
                            "end of input",
                        ))
                    }
                    Some(q) if q == c => {
                        if at(i + 1) == Some(c) {
                            text.push(c);
                            i += 2;
                        } else {
                            i += 1;
                            break;
                        }
                    }
                    Some(x) => {
                        text.push(x);
                        i += 1;
                    }
                }
            }
            if c == '"' {
                if text.is_empty() {
                    return Err(syntax(
                        src,
                        pos,
                        "a column name between the double quotes",
                        "\"\"",
                    ));
                }
                Tok::QuotedIdent(text)
            } else {
                Tok::Str(text)
            }
        } else {
            let two = (c, at(i + 1));
            let (tok, len) = match two {
                ('<', Some('=')) => (Tok::Op(CmpOp::Le), 2),
                ('<', Some('>')) => (Tok::Op(CmpOp::Ne), 2),
                ('>', Some('=')) => (Tok::Op(CmpOp::Ge), 2),
                ('!', Some('=')) => (Tok::Op(CmpOp::Ne), 2),
                ('=', Some('=')) => (Tok::Op(CmpOp::Eq), 2),
                ('<', _) => (Tok::Op(CmpOp::Lt), 1),
                ('>', _) => (Tok::Op(CmpOp::Gt), 1),
                ('=', _) => (Tok::Op(CmpOp::Eq), 1),
                ('(', _) => (Tok::LParen, 1),
                (')', _) => (Tok::RParen, 1),
                (',', _) => (Tok::Comma, 1),
                ('+', _) => (Tok::Plus, 1),
                ('-', _) => (Tok::Minus, 1),
                ('*', _) => (Tok::Star, 1),
                ('/', _) => (Tok::Slash, 1),
                ('%', _) => (Tok::Percent, 1),
                _ => {
                    return Err(syntax(
                        src,
                        pos,
                        "a column, a literal, an operator (= != <> < <= > >= + - * / %) or a parenthesis",
                        format!("`{c}`"),
                    ))
                }
            };
            i += len;
            tok
        };
        toks.push(Token { tok, pos });
    }
    toks.push(Token {
        tok: Tok::End,
        pos: chars.len() + 1,
    });
    Ok(toks)
}

/// A position in a token list, shared by the recursive-descent parsers of both languages:
/// look ahead, consume, and count nesting so deep input is refused instead of overflowing
/// the stack.
#[derive(Debug, Clone)]
pub struct Cursor {
    toks: Vec<Token>,
    at: usize,
    end: usize,
    depth: usize,
}

impl Cursor {
    /// A cursor at the first of `toks` (from [`lex`] on `src`).
    pub fn new(src: &str, toks: Vec<Token>) -> Self {
        Self {
            toks,
            at: 0,
            end: src.chars().count() + 1,
            depth: 0,
        }
    }

    /// The current token ([`Tok::End`] past the end).
    pub fn peek(&self) -> Token {
        self.toks.get(self.at).cloned().unwrap_or(Token {
            tok: Tok::End,
            pos: self.end,
        })
    }

    /// The token after the current one.
    pub fn peek2(&self) -> Option<&Tok> {
        self.toks.get(self.at + 1).map(|t| &t.tok)
    }

    /// Consumes the current token.
    pub fn bump(&mut self) -> Token {
        let t = self.peek();
        self.at += 1;
        t
    }

    /// Consumes the current token if it is `want`.
    pub fn take_if(&mut self, want: &Tok) -> Option<Token> {
        (&self.peek().tok == want).then(|| self.bump())
    }

    /// Enters one nesting level; `false` when that is deeper than `max`.
    pub fn enter(&mut self, max: usize) -> bool {
        self.depth += 1;
        self.depth <= max
    }

    /// Leaves a nesting level.
    pub fn leave(&mut self) {
        self.depth = self.depth.saturating_sub(1);
    }
}
