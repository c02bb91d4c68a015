//! Lexer and recursive-descent parser for [`crate::FilterExpr`].
//!
//! ```text
//! expr      := and ("or" and)*
//! and       := not ("and" not)*
//! not       := "not" not | predicate
//! predicate := "(" expr ")"
//!            | operand (cmp operand | "is" ["not"] "null" | ["not"] "in" "(" literal ("," literal)* ")")?
//! operand   := identifier | "double-quoted identifier" | literal
//! literal   := integer | float | 'string' ('' escapes ') | true | false | null
//! cmp       := "=" | "==" | "!=" | "<>" | "<" | "<=" | ">" | ">="
//! ```
//! Keywords are case-insensitive. Positions are 1-based character positions.

use crate::error::{Error, Result};
use crate::filter_expr::{Node, Operand};
use crate::lexer::{describe, lex, syntax, Cursor, Tok, Token};
use tessera_value::Value;

/// Deepest nesting of parentheses and `not` accepted.
const MAX_DEPTH: usize = 64;

struct Parser<'a> {
    src: &'a str,
    cur: Cursor,
}

/// Parses `src` into a filter tree.
pub(crate) fn parse(src: &str) -> Result<Node> {
    let mut p = Parser {
        src,
        cur: Cursor::new(src, lex(src)?),
    };
    let node = p.parse_or()?;
    let end = p.peek();
    if end.tok != Tok::End {
        let expected = if end.tok == Tok::RParen {
            "`and`, `or` or end of input (this `)` has no matching `(`)"
        } else {
            "`and`, `or` or end of input"
        };
        return Err(p.error_at(&end, expected));
    }
    Ok(node)
}

impl Parser<'_> {
    fn peek(&self) -> Token {
        self.cur.peek()
    }

    fn peek2(&self) -> Option<&Tok> {
        self.cur.peek2()
    }

    fn bump(&mut self) -> Token {
        self.cur.bump()
    }

    fn error_at(&self, tok: &Token, expected: &str) -> Error {
        syntax(self.src, tok.pos, expected, describe(&tok.tok))
    }

    fn expect(&mut self, want: &Tok, expected: &str) -> Result<Token> {
        let t = self.peek();
        self.cur
            .take_if(want)
            .ok_or_else(|| self.error_at(&t, expected))
    }

    fn enter(&mut self, tok: &Token) -> Result<()> {
        if self.cur.enter(MAX_DEPTH) {
            Ok(())
        } else {
            Err(self.error_at(tok, "less deeply nested parentheses or `not`s (at most 64)"))
        }
    }

    fn parse_or(&mut self) -> Result<Node> {
        let mut items = vec![self.parse_and()?];
        while self.peek().tok == Tok::Or {
            self.bump();
            items.push(self.parse_and()?);
        }
        Ok(if items.len() == 1 {
            items.remove(0)
        } else {
            Node::Or(items)
        })
    }

    fn parse_and(&mut self) -> Result<Node> {
        let mut items = vec![self.parse_not()?];
        while self.peek().tok == Tok::And {
            self.bump();
            items.push(self.parse_not()?);
        }
        Ok(if items.len() == 1 {
            items.remove(0)
        } else {
            Node::And(items)
        })
    }

    fn parse_not(&mut self) -> Result<Node> {
        let t = self.peek();
        if t.tok == Tok::Not {
            self.bump();
            self.enter(&t)?;
            let inner = self.parse_not()?;
            self.cur.leave();
            return Ok(Node::Not(Box::new(inner)));
        }
        self.parse_predicate()
    }

    fn parse_operand(&mut self, expected: &str) -> Result<Operand> {
        let t = self.peek();
        let operand = match t.tok {
            Tok::Ident(name) | Tok::QuotedIdent(name) => Operand::Column { name, pos: t.pos },
            Tok::Str(s) => Operand::Literal(Value::String(s)),
            Tok::Int(v) => Operand::Literal(Value::Int64(v)),
            Tok::Float(v) => Operand::Literal(Value::Float64(v)),
            Tok::True => Operand::Literal(Value::Bool(true)),
            Tok::False => Operand::Literal(Value::Bool(false)),
            Tok::Null => Operand::Literal(Value::Null),
            _ => return Err(self.error_at(&t, expected)),
        };
        self.bump();
        Ok(operand)
    }

    fn parse_predicate(&mut self) -> Result<Node> {
        let t = self.peek();
        if t.tok == Tok::LParen {
            self.bump();
            self.enter(&t)?;
            let inner = self.parse_or()?;
            self.expect(&Tok::RParen, "`)`, `and` or `or`")?;
            self.cur.leave();
            return Ok(inner);
        }
        let operand = self.parse_operand("a column, a literal, `not` or `(`")?;
        let next = self.peek();
        match next.tok {
            Tok::Op(op) => {
                self.bump();
                let right = self.parse_operand("a column or a literal after the operator")?;
                let is_null = |o: &Operand| matches!(o, Operand::Literal(Value::Null));
                if is_null(&operand) || is_null(&right) {
                    return Err(Error::FilterType {
                        expr: self.src.to_owned(),
                        position: next.pos,
                        reason: "a comparison with null is never true; write `x is null` or `x is not null`".into(),
                    });
                }
                Ok(Node::Compare {
                    left: operand,
                    op,
                    right,
                    pos: next.pos,
                })
            }
            Tok::Is => {
                self.bump();
                let negated = self.peek().tok == Tok::Not;
                if negated {
                    self.bump();
                }
                self.expect(&Tok::Null, "`null` after `is` or `is not`")?;
                Ok(Node::IsNull { operand, negated })
            }
            Tok::In => {
                self.bump();
                self.parse_in_list(operand, false, next.pos)
            }
            Tok::Not if self.peek2() == Some(&Tok::In) => {
                self.bump();
                self.bump();
                self.parse_in_list(operand, true, next.pos)
            }
            _ => match operand {
                Operand::Column { name, pos } => Ok(Node::Truthy { column: name, pos }),
                Operand::Literal(Value::Bool(b)) => Ok(Node::Const(b)),
                Operand::Literal(_) => Err(self.error_at(
                    &next,
                    "a comparison operator (= != <> < <= > >=), `is` or `in` after the literal",
                )),
            },
        }
    }

    fn parse_in_list(&mut self, operand: Operand, negated: bool, pos: usize) -> Result<Node> {
        self.expect(&Tok::LParen, "`(` to open the `in` list")?;
        let mut list = Vec::new();
        loop {
            let t = self.peek();
            let v = match t.tok {
                Tok::Str(s) => Value::String(s),
                Tok::Int(v) => Value::Int64(v),
                Tok::Float(v) => Value::Float64(v),
                Tok::True => Value::Bool(true),
                Tok::False => Value::Bool(false),
                Tok::Null => Value::Null,
                _ => return Err(self.error_at(&t, "a literal value in the `in` list")),
            };
            self.bump();
            list.push(v);
            let sep = self.peek();
            match sep.tok {
                Tok::Comma => {
                    self.bump();
                }
                Tok::RParen => {
                    self.bump();
                    break;
                }
                _ => return Err(self.error_at(&sep, "`,` or `)` in the `in` list")),
            }
        }
        Ok(Node::In {
            operand,
            list,
            negated,
            pos,
        })
    }
}
