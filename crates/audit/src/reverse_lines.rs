//! [`ReverseLines`]: a file's lines from the last to the first, read backwards in blocks, so
//! that `tail -n 2` of a large log reads a few kilobytes instead of the whole file.

use std::fs::File;
use std::io::{BufRead, Read, Seek, SeekFrom};

/// How much is read per step backwards.
const BLOCK: u64 = 64 * 1024;

/// One line, without its newline.
pub(crate) struct Line {
    /// Its bytes.
    pub(crate) bytes: Vec<u8>,
    /// Where it starts in the file.
    pub(crate) offset: u64,
    /// Whether a newline ends it (only the file's last line can lack one).
    pub(crate) whole: bool,
}

/// The lines of a file, last first.
pub(crate) struct ReverseLines<'a> {
    file: &'a mut File,
    /// `buf` holds the file's bytes from `pos` up to the end of the lines not yet returned.
    pos: u64,
    buf: Vec<u8>,
    /// Whether the next line returned is the file's last one.
    last: bool,
    /// Whether the file ends in a newline.
    ends_in_newline: bool,
    done: bool,
}

impl<'a> ReverseLines<'a> {
    /// Starts at the end of `file`.
    pub(crate) fn new(file: &'a mut File) -> std::io::Result<Self> {
        let len = file.metadata()?.len();
        let mut ends_in_newline = false;
        let mut end = len;
        if len > 0 {
            let mut b = [0u8; 1];
            file.seek(SeekFrom::Start(len - 1))?;
            file.read_exact(&mut b)?;
            if b[0] == b'\n' {
                ends_in_newline = true;
                end = len - 1;
            }
        }
        Ok(Self {
            file,
            pos: end,
            buf: Vec::new(),
            last: true,
            ends_in_newline,
            done: len == 0,
        })
    }

    /// The previous line, or `None` at the start of the file.
    pub(crate) fn next_line(&mut self) -> std::io::Result<Option<Line>> {
        loop {
            if self.done {
                return Ok(None);
            }
            if let Some(i) = self.buf.iter().rposition(|&b| b == b'\n') {
                let bytes = self.buf.split_off(i + 1);
                self.buf.truncate(i);
                return Ok(Some(self.line(bytes, self.pos + i as u64 + 1)));
            }
            if self.pos == 0 {
                self.done = true;
                let bytes = std::mem::take(&mut self.buf);
                return Ok(Some(self.line(bytes, 0)));
            }
            let start = self.pos.saturating_sub(BLOCK);
            let mut block = vec![0u8; (self.pos - start) as usize];
            self.file.seek(SeekFrom::Start(start))?;
            self.file.read_exact(&mut block)?;
            block.extend_from_slice(&self.buf);
            self.buf = block;
            self.pos = start;
        }
    }

    fn line(&mut self, bytes: Vec<u8>, offset: u64) -> Line {
        let whole = !self.last || self.ends_in_newline;
        self.last = false;
        Line {
            bytes,
            offset,
            whole,
        }
    }
}

/// The 1-based number of the line that starts at `offset` (reads the file up to there: for
/// error messages only).
pub(crate) fn line_number(file: &mut File, offset: u64) -> std::io::Result<usize> {
    file.seek(SeekFrom::Start(0))?;
    let mut reader = std::io::BufReader::new(Read::take(&mut *file, offset));
    let mut lines = 1;
    loop {
        let chunk = reader.fill_buf()?;
        if chunk.is_empty() {
            return Ok(lines);
        }
        lines += chunk.iter().filter(|&&b| b == b'\n').count();
        let n = chunk.len();
        reader.consume(n);
    }
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use super::*;

    fn lines_of(text: &[u8]) -> Vec<(String, u64, bool)> {
        let mut f = tempfile::tempfile().unwrap();
        f.write_all(text).unwrap();
        let mut r = ReverseLines::new(&mut f).unwrap();
        let mut out = Vec::new();
        while let Some(l) = r.next_line().unwrap() {
            out.push((String::from_utf8(l.bytes).unwrap(), l.offset, l.whole));
        }
        out
    }

    #[test]
    fn lines_come_last_first_with_their_offsets() {
        assert!(lines_of(b"").is_empty());
        assert_eq!(
            lines_of(b"ab\n\ncd\n"),
            [
                ("cd".to_string(), 4, true),
                (String::new(), 3, true),
                ("ab".to_string(), 0, true)
            ]
        );
        assert_eq!(
            lines_of(b"ab\ncd"),
            [("cd".to_string(), 3, false), ("ab".to_string(), 0, true)]
        );
    }

    #[test]
    fn lines_longer_than_a_block_and_line_numbers() {
        let long = "x".repeat(BLOCK as usize * 2 + 17);
        let text = format!("a\n{long}\nb\n");
        let got = lines_of(text.as_bytes());
        assert_eq!(got.len(), 3);
        assert_eq!(got[1].0, long);
        assert_eq!(got[1].1, 2);
        let mut f = tempfile::tempfile().unwrap();
        f.write_all(text.as_bytes()).unwrap();
        assert_eq!(line_number(&mut f, got[0].1).unwrap(), 3);
        assert_eq!(line_number(&mut f, 0).unwrap(), 1);
    }
}
