//! A small JSON reader for webhook bodies: it checks that the whole document is well-formed
//! JSON (RFC 8259) and keeps only the values a static schema names, borrowing strings from the
//! body unless they contain escapes. Everything else, however large, is skipped without being
//! allocated.
//!
//! Each slot keeps one value, the first the document offers: an array's elements are counted,
//! and a key inside them fills its slot once (with [`Expect::TextIf`], once a string passes
//! the test), so what is kept does not grow with an array's length. Every element is still
//! checked in full.
//!
//! Why not serde: derived deserializers bring serde's error machinery (and with it float
//! formatting) into the component, about 40 KB of a budget of 250 KB, to read two dozen
//! fields.

use std::borrow::Cow;

/// Containers nested deeper than this are refused (serde_json's default limit).
pub(crate) const MAX_DEPTH: usize = 128;

/// What a schema expects at a key.
#[derive(Debug)]
pub(crate) enum Expect {
    /// A string.
    Text,
    /// A string, kept only when the test accepts it: under an array, the slot gets the first
    /// element's string that passes (the others are checked, decoded for the test, dropped).
    TextIf(fn(&str) -> bool),
    /// A non-negative integer that fits `u64`.
    Uint,
    /// `true` or `false`.
    Bool,
    /// An object with these keys of interest.
    Object(&'static [Field]),
    /// An array whose every element is an object with these keys of interest; its slot gets
    /// the number of elements.
    Objects(&'static [Field]),
}

/// A key of interest: its name, what it must hold, and the slot its value lands in.
#[derive(Debug)]
pub(crate) struct Field {
    /// The JSON key.
    pub(crate) name: &'static str,
    /// The slot (an index the caller chooses, unique within a schema).
    pub(crate) slot: u8,
    /// The expected value.
    pub(crate) expect: Expect,
}

/// A picked value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Picked<'a> {
    /// A string, borrowed from the body when it had no escapes.
    Text(Cow<'a, str>),
    /// An integer.
    Uint(u64),
    /// A boolean.
    Bool(bool),
    /// An object was present (not `null`).
    Present,
    /// An array was present (not `null`), with this many elements.
    Count(usize),
}

/// The values found, in document order: `(slot, value)`, at most one per slot (the first
/// offered), so never more entries than the schema has slots. A key whose value is `null` is
/// absent.
#[derive(Debug, Default)]
pub(crate) struct Values<'a> {
    found: Vec<(u8, Picked<'a>)>,
    /// One bit per slot that holds a value.
    filled: [u64; 4],
}

impl<'a> Values<'a> {
    fn get(&self, slot: u8) -> Option<&Picked<'a>> {
        self.found.iter().find(|(s, _)| *s == slot).map(|(_, v)| v)
    }

    /// The word of [`Self::filled`] holding `slot`'s bit, and the bit.
    fn bit(slot: u8) -> (usize, u64) {
        (usize::from(slot / 64), 1 << (slot % 64))
    }

    fn is_filled(&self, slot: u8) -> bool {
        let (word, bit) = Self::bit(slot);
        self.filled.get(word).is_some_and(|w| w & bit != 0)
    }

    /// Puts `value` in `slot` unless it holds one already.
    fn fill(&mut self, slot: u8, value: Picked<'a>) {
        let (word, bit) = Self::bit(slot);
        if let Some(w) = self.filled.get_mut(word)
            && *w & bit == 0
        {
            *w |= bit;
            self.found.push((slot, value));
        }
    }

    /// The string in `slot`.
    #[must_use]
    pub(crate) fn text(&self, slot: u8) -> Option<&str> {
        match self.get(slot) {
            Some(Picked::Text(t)) => Some(t.as_ref()),
            _ => None,
        }
    }

    /// The integer in `slot`.
    #[must_use]
    pub(crate) fn uint(&self, slot: u8) -> Option<u64> {
        match self.get(slot) {
            Some(Picked::Uint(n)) => Some(*n),
            _ => None,
        }
    }

    /// The boolean in `slot`.
    #[must_use]
    pub(crate) fn boolean(&self, slot: u8) -> Option<bool> {
        match self.get(slot) {
            Some(Picked::Bool(b)) => Some(*b),
            _ => None,
        }
    }

    /// Whether `slot` holds anything (an object or array: present and not `null`).
    #[must_use]
    pub(crate) fn has(&self, slot: u8) -> bool {
        self.get(slot).is_some()
    }

    /// How many elements the array in `slot` had (0 when absent or `null`).
    #[must_use]
    pub(crate) fn count(&self, slot: u8) -> usize {
        match self.get(slot) {
            Some(Picked::Count(n)) => *n,
            _ => 0,
        }
    }
}

/// Why a document was refused: what, and the byte offset where it was noticed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Error {
    /// What is wrong.
    pub(crate) message: String,
    /// Byte offset in the body.
    pub(crate) offset: usize,
}

impl core::fmt::Display for Error {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "{} at byte {}", self.message, self.offset)
    }
}

/// Reads `body` as one JSON object and picks the `schema`'s values.
///
/// # Errors
/// [`Error`] when the body is not UTF-8, not well-formed JSON, not an object, nested deeper
/// than [`MAX_DEPTH`], repeats a key of interest, or holds a value of the wrong type at a key
/// of interest.
pub(crate) fn pick<'a>(body: &'a [u8], schema: &'static [Field]) -> Result<Values<'a>, Error> {
    let text = core::str::from_utf8(body).map_err(|e| Error {
        message: "not UTF-8".into(),
        offset: e.valid_up_to(),
    })?;
    let mut reader = Reader {
        text,
        bytes: body,
        at: 0,
        values: Values::default(),
    };
    reader.skip_space();
    if reader.peek() != Some(b'{') {
        return Err(reader.error("expected a JSON object"));
    }
    reader.object(schema, "", 1)?;
    reader.skip_space();
    if reader.at < body.len() {
        return Err(reader.error("trailing characters after the JSON value"));
    }
    Ok(reader.values)
}

struct Reader<'a> {
    text: &'a str,
    bytes: &'a [u8],
    at: usize,
    values: Values<'a>,
}

impl<'a> Reader<'a> {
    fn error(&self, message: &str) -> Error {
        Error {
            message: message.to_owned(),
            offset: self.at,
        }
    }

    /// The body from the read position on.
    fn rest(&self) -> &'a [u8] {
        self.bytes.get(self.at..).unwrap_or_default()
    }

    /// `text[from..to]`; both ends sit next to ASCII bytes, so on character boundaries.
    fn slice(&self, from: usize, to: usize) -> &'a str {
        self.text.get(from..to).unwrap_or_default()
    }

    fn peek(&self) -> Option<u8> {
        self.bytes.get(self.at).copied()
    }

    fn skip_space(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t' | b'\n' | b'\r')) {
            self.at += 1;
        }
    }

    fn eat(&mut self, byte: u8, what: &str) -> Result<(), Error> {
        self.skip_space();
        if self.peek() == Some(byte) {
            self.at += 1;
            Ok(())
        } else {
            Err(self.error(what))
        }
    }

    /// An object at `self.at` (its `{` not yet read), picking `fields`.
    fn object(&mut self, fields: &'static [Field], path: &str, depth: usize) -> Result<(), Error> {
        if depth > MAX_DEPTH {
            return Err(self.error("nested too deeply"));
        }
        self.eat(b'{', "expected `{`")?;
        let mut seen = 0u64;
        self.skip_space();
        if self.peek() == Some(b'}') {
            self.at += 1;
            return Ok(());
        }
        loop {
            self.skip_space();
            if self.peek() != Some(b'"') {
                return Err(self.error("expected a string key"));
            }
            let key = self.string(true)?.unwrap_or_default();
            self.eat(b':', "expected `:` after a key")?;
            self.skip_space();
            match fields.iter().enumerate().find(|(_, f)| f.name == key) {
                Some((index, field)) => {
                    let bit = 1u64 << (index % 64);
                    if seen & bit != 0 {
                        return Err(self.error(&format!("duplicate key `{path}{key}`")));
                    }
                    seen |= bit;
                    self.wanted(field, path, depth)?;
                }
                None => self.skip_value(depth)?,
            }
            self.skip_space();
            match self.peek() {
                Some(b',') => self.at += 1,
                Some(b'}') => {
                    self.at += 1;
                    return Ok(());
                }
                _ => return Err(self.error("expected `,` or `}` in an object")),
            }
        }
    }

    /// The value of a key of interest.
    fn wanted(&mut self, field: &'static Field, path: &str, depth: usize) -> Result<(), Error> {
        if self.rest().starts_with(b"null") {
            self.at += 4;
            return Ok(());
        }
        let wrong = |reader: &Self, what: &str| {
            reader.error(&format!(
                "invalid type at `{path}{}`: expected {what}",
                field.name
            ))
        };
        // A slot filled already (by an earlier array element) only has the value checked.
        let keep = !self.values.is_filled(field.slot);
        let picked = match &field.expect {
            Expect::Text => {
                if self.peek() != Some(b'"') {
                    return Err(wrong(self, "a string"));
                }
                match self.string(keep)? {
                    Some(text) => Picked::Text(text),
                    None => return Ok(()),
                }
            }
            Expect::TextIf(test) => {
                if self.peek() != Some(b'"') {
                    return Err(wrong(self, "a string"));
                }
                match self.string(keep)? {
                    Some(text) if test(&text) => Picked::Text(text),
                    _ => return Ok(()),
                }
            }
            Expect::Uint => {
                if !matches!(self.peek(), Some(b'-' | b'0'..=b'9')) {
                    return Err(wrong(self, "a non-negative integer"));
                }
                let start = self.at;
                self.number()?;
                let digits = self.slice(start, self.at);
                match digits.parse::<u64>() {
                    Ok(n) => Picked::Uint(n),
                    Err(_) => {
                        self.at = start;
                        return Err(wrong(self, "a non-negative integer"));
                    }
                }
            }
            Expect::Bool => {
                if self.rest().starts_with(b"true") {
                    self.at += 4;
                    Picked::Bool(true)
                } else if self.rest().starts_with(b"false") {
                    self.at += 5;
                    Picked::Bool(false)
                } else {
                    return Err(wrong(self, "a boolean"));
                }
            }
            Expect::Object(fields) => {
                if self.peek() != Some(b'{') {
                    return Err(wrong(self, "an object"));
                }
                self.values.fill(field.slot, Picked::Present);
                let inner = format!("{path}{}.", field.name);
                return self.object(fields, &inner, depth + 1);
            }
            Expect::Objects(fields) => {
                if self.peek() != Some(b'[') {
                    return Err(wrong(self, "an array"));
                }
                if depth + 1 > MAX_DEPTH {
                    return Err(self.error("nested too deeply"));
                }
                self.at += 1;
                let inner = format!("{path}{}[].", field.name);
                let mut count = 0;
                self.skip_space();
                if self.peek() == Some(b']') {
                    self.at += 1;
                } else {
                    loop {
                        self.skip_space();
                        if self.peek() != Some(b'{') {
                            return Err(wrong(self, "an array of objects"));
                        }
                        self.object(fields, &inner, depth + 2)?;
                        count += 1;
                        self.skip_space();
                        match self.peek() {
                            Some(b',') => self.at += 1,
                            Some(b']') => {
                                self.at += 1;
                                break;
                            }
                            _ => return Err(self.error("expected `,` or `]` in an array")),
                        }
                    }
                }
                Picked::Count(count)
            }
        };
        self.values.fill(field.slot, picked);
        Ok(())
    }

    /// Skips one value of any kind at `self.at`, checking its syntax. Containers are walked
    /// with an explicit stack, so depth costs no native stack.
    fn skip_value(&mut self, depth: usize) -> Result<(), Error> {
        // One bit per open container: true for an object.
        let mut open: Vec<bool> = Vec::new();
        loop {
            self.skip_space();
            match self.peek() {
                Some(b'{') => {
                    self.at += 1;
                    open.push(true);
                    if depth + open.len() > MAX_DEPTH {
                        return Err(self.error("nested too deeply"));
                    }
                    self.skip_space();
                    if self.peek() == Some(b'}') {
                        self.at += 1;
                        open.pop();
                    } else {
                        self.key()?;
                        continue;
                    }
                }
                Some(b'[') => {
                    self.at += 1;
                    open.push(false);
                    if depth + open.len() > MAX_DEPTH {
                        return Err(self.error("nested too deeply"));
                    }
                    self.skip_space();
                    if self.peek() == Some(b']') {
                        self.at += 1;
                        open.pop();
                    } else {
                        continue;
                    }
                }
                Some(b'"') => {
                    self.string(false)?;
                }
                Some(b't') => self.literal(b"true")?,
                Some(b'f') => self.literal(b"false")?,
                Some(b'n') => self.literal(b"null")?,
                Some(b'-' | b'0'..=b'9') => self.number()?,
                _ => return Err(self.error("expected a JSON value")),
            }
            // A value just ended: close containers or move to the next element.
            loop {
                let Some(&is_object) = open.last() else {
                    return Ok(());
                };
                self.skip_space();
                match (self.peek(), is_object) {
                    (Some(b','), true) => {
                        self.at += 1;
                        self.skip_space();
                        self.key()?;
                        break;
                    }
                    (Some(b','), false) => {
                        self.at += 1;
                        break;
                    }
                    (Some(b'}'), true) | (Some(b']'), false) => {
                        self.at += 1;
                        open.pop();
                    }
                    _ => return Err(self.error("expected `,` or the end of a container")),
                }
            }
        }
    }

    /// A key and its `:` inside a skipped object.
    fn key(&mut self) -> Result<(), Error> {
        if self.peek() != Some(b'"') {
            return Err(self.error("expected a string key"));
        }
        self.string(false)?;
        self.eat(b':', "expected `:` after a key")
    }

    fn literal(&mut self, word: &[u8]) -> Result<(), Error> {
        if self.rest().starts_with(word) {
            self.at += word.len();
            Ok(())
        } else {
            Err(self.error("invalid literal"))
        }
    }

    /// A number: `-? (0 | [1-9][0-9]*) (. [0-9]+)? ([eE] [+-]? [0-9]+)?`.
    fn number(&mut self) -> Result<(), Error> {
        if self.peek() == Some(b'-') {
            self.at += 1;
        }
        match self.peek() {
            Some(b'0') => self.at += 1,
            Some(b'1'..=b'9') => self.digits(),
            _ => return Err(self.error("invalid number")),
        }
        if self.peek() == Some(b'.') {
            self.at += 1;
            if !matches!(self.peek(), Some(b'0'..=b'9')) {
                return Err(self.error("invalid number"));
            }
            self.digits();
        }
        if matches!(self.peek(), Some(b'e' | b'E')) {
            self.at += 1;
            if matches!(self.peek(), Some(b'+' | b'-')) {
                self.at += 1;
            }
            if !matches!(self.peek(), Some(b'0'..=b'9')) {
                return Err(self.error("invalid number"));
            }
            self.digits();
        }
        Ok(())
    }

    fn digits(&mut self) {
        while matches!(self.peek(), Some(b'0'..=b'9')) {
            self.at += 1;
        }
    }

    /// A string at `self.at` (its opening quote). With `keep`, its value: borrowed when it
    /// has no escapes.
    fn string(&mut self, keep: bool) -> Result<Option<Cow<'a, str>>, Error> {
        self.at += 1;
        let start = self.at;
        let mut owned: Option<String> = None;
        let mut run = start;
        loop {
            let Some(byte) = self.peek() else {
                return Err(self.error("unterminated string"));
            };
            match byte {
                b'"' => {
                    let tail = self.slice(run, self.at);
                    self.at += 1;
                    if !keep {
                        return Ok(None);
                    }
                    return Ok(Some(match owned {
                        Some(mut s) => {
                            s.push_str(tail);
                            Cow::Owned(s)
                        }
                        None => Cow::Borrowed(tail),
                    }));
                }
                b'\\' => {
                    let escape_at = self.at;
                    let decoded = self.escape()?;
                    if keep {
                        let s = owned.get_or_insert_with(String::new);
                        s.push_str(self.slice(run, escape_at));
                        s.push(decoded);
                    }
                    run = self.at;
                }
                0..=0x1f => return Err(self.error("control character in a string")),
                _ => self.at += 1,
            }
        }
    }

    /// One escape at `self.at` (the backslash); leaves `self.at` after it.
    fn escape(&mut self) -> Result<char, Error> {
        self.at += 1;
        let Some(kind) = self.peek() else {
            return Err(self.error("unterminated string"));
        };
        self.at += 1;
        Ok(match kind {
            b'"' => '"',
            b'\\' => '\\',
            b'/' => '/',
            b'b' => '\u{8}',
            b'f' => '\u{c}',
            b'n' => '\n',
            b'r' => '\r',
            b't' => '\t',
            b'u' => {
                let first = self.hex4()?;
                if (0xDC00..0xE000).contains(&first) {
                    return Err(self.error("lone trailing surrogate in a \\u escape"));
                }
                if (0xD800..0xDC00).contains(&first) {
                    if !self.rest().starts_with(b"\\u") {
                        return Err(self.error("lone leading surrogate in a \\u escape"));
                    }
                    self.at += 2;
                    let second = self.hex4()?;
                    if !(0xDC00..0xE000).contains(&second) {
                        return Err(self.error("invalid surrogate pair in a \\u escape"));
                    }
                    let code = 0x10000 + ((first - 0xD800) << 10) + (second - 0xDC00);
                    char::from_u32(code).ok_or_else(|| self.error("invalid \\u escape"))?
                } else {
                    char::from_u32(first).ok_or_else(|| self.error("invalid \\u escape"))?
                }
            }
            _ => {
                self.at -= 1;
                return Err(self.error("invalid escape"));
            }
        })
    }

    fn hex4(&mut self) -> Result<u32, Error> {
        let digits = self
            .text
            .get(self.at..self.at + 4)
            .filter(|d| d.bytes().all(|b| b.is_ascii_hexdigit()))
            .ok_or_else(|| self.error("invalid \\u escape"))?;
        self.at += 4;
        u32::from_str_radix(digits, 16).map_err(|_| self.error("invalid \\u escape"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const INNER: &[Field] = &[Field {
        name: "message",
        slot: 3,
        expect: Expect::Text,
    }];

    fn says_keep(text: &str) -> bool {
        text.starts_with("keep")
    }

    const ELEMENT: &[Field] = &[
        Field {
            name: "message",
            slot: 6,
            expect: Expect::TextIf(says_keep),
        },
        Field {
            name: "id",
            slot: 7,
            expect: Expect::Uint,
        },
        Field {
            name: "author",
            slot: 8,
            expect: Expect::Object(INNER),
        },
    ];

    const SCHEMA: &[Field] = &[
        Field {
            name: "title",
            slot: 0,
            expect: Expect::Text,
        },
        Field {
            name: "number",
            slot: 1,
            expect: Expect::Uint,
        },
        Field {
            name: "merged",
            slot: 2,
            expect: Expect::Bool,
        },
        Field {
            name: "head",
            slot: 4,
            expect: Expect::Object(INNER),
        },
        Field {
            name: "commits",
            slot: 5,
            expect: Expect::Objects(ELEMENT),
        },
    ];

    fn ok(doc: &str) -> Values<'_> {
        match pick(doc.as_bytes(), SCHEMA) {
            Ok(values) => values,
            Err(e) => panic!("{doc}: {e}"),
        }
    }

    fn refused(doc: &str) -> String {
        match pick(doc.as_bytes(), SCHEMA) {
            Ok(values) => panic!("{doc} was accepted: {values:?}"),
            Err(e) => e.message,
        }
    }

    #[test]
    fn picks_values_of_interest_and_skips_the_rest() {
        let doc = r#" {"skip": {"a": [1, -2.5e+3, true, null, "x\"y", {"title": 9}]},
            "title": "DEV-CICDL-0031 fix", "number": 42, "merged": false,
            "head": {"message": "m0", "other": []},
            "commits": [{"message": "m1"}, {"id": 1}, {"message": "keep m2"}] } "#;
        let v = ok(doc);
        assert_eq!(v.text(0), Some("DEV-CICDL-0031 fix"));
        assert_eq!(v.uint(1), Some(42));
        assert_eq!(v.boolean(2), Some(false));
        assert!(v.has(4));
        assert_eq!(v.text(3), Some("m0"));
        assert_eq!(v.count(5), 3);
        assert_eq!(v.text(6), Some("keep m2"));
        assert_eq!(v.uint(7), Some(1));
    }

    #[test]
    fn an_array_keeps_its_count_and_each_slot_the_first_value_offered() {
        let v = ok(r#"{"commits": [{"id": 7, "author": {"message": "a1"}},
            {"id": 8, "author": {"message": "a2"}}, {}]}"#);
        assert_eq!(v.count(5), 3);
        assert_eq!(v.uint(7), Some(7));
        assert_eq!(v.text(3), Some("a1"));
        assert!(v.has(8));
        let v = ok(r#"{"commits": []}"#);
        assert_eq!(v.count(5), 0);
        assert!(v.has(5));
    }

    #[test]
    fn text_if_keeps_the_first_string_that_passes_the_test() {
        let v = ok(
            r#"{"commits": [{"message": "skip"}, {"message": "ke\u0065p 1"},
            {"message": "keep 2"}]}"#,
        );
        assert_eq!(
            v.text(6),
            Some("keep 1"),
            "escapes are decoded for the test"
        );
        assert_eq!(ok(r#"{"commits": [{"message": "no"}]}"#).text(6), None);
    }

    #[test]
    fn elements_after_the_kept_values_are_still_checked() {
        let first = r#"{"message": "keep", "id": 1, "author": {"message": "a"}}"#;
        for (later, why) in [
            (r#"{"message": 2}"#, "`commits[].message`"),
            (r#"{"message": "\q"}"#, "invalid escape"),
            (r#"{"message": "\ud800"}"#, "surrogate"),
            (r#"{"id": -1}"#, "`commits[].id`"),
            (
                r#"{"author": {"message": null, "message": "x"}}"#,
                "duplicate",
            ),
            (
                r#"{"message": "a", "message": "b"}"#,
                "duplicate key `commits[].message`",
            ),
            (r#"{"author": []}"#, "`commits[].author`"),
            ("[]", "an array of objects"),
        ] {
            let doc = format!(r#"{{"commits": [{first}, {later}]}}"#);
            let message = refused(&doc);
            assert!(message.contains(why), "{later}: {message}");
        }
    }

    #[test]
    fn what_is_kept_does_not_grow_with_an_array() {
        let element = r#"{"message": "keep\n", "id": 1, "author": {"message": "a\n"}}"#;
        let doc = format!(r#"{{"commits": [{}]}}"#, vec![element; 10_000].join(","));
        let v = ok(&doc);
        assert_eq!(v.count(5), 10_000);
        // The count, and one value each for message, id and author (present) and its message.
        assert_eq!(v.found.len(), 5);
    }

    #[test]
    fn strings_without_escapes_are_borrowed_and_escapes_are_decoded() {
        let v = ok(r#"{"title": "plain"}"#);
        assert!(matches!(
            v.found.first(),
            Some((0, Picked::Text(Cow::Borrowed("plain"))))
        ));
        let v = ok(r#"{"title": "a\"b\\c\/d\b\f\n\r\t\u0041\u00e9\ud83d\ude00 end"}"#);
        assert_eq!(
            v.text(0),
            Some("a\"b\\c/d\u{8}\u{c}\n\r\tA\u{e9}\u{1f600} end")
        );
        // A quote written as a \u escape must not confuse where the text before it ended.
        assert_eq!(ok(r#"{"title": "x\u0022y"}"#).text(0), Some("x\"y"));
        assert_eq!(ok(r#"{"title": "Grüße 日本"}"#).text(0), Some("Grüße 日本"));
    }

    #[test]
    fn null_counts_as_absent() {
        let v = ok(r#"{"title": null, "number": null, "head": null, "commits": null}"#);
        assert_eq!(v.text(0), None);
        assert_eq!(v.uint(1), None);
        assert!(!v.has(4));
        assert_eq!(v.count(5), 0);
    }

    #[test]
    fn a_value_of_the_wrong_type_names_its_path() {
        assert!(refused(r#"{"title": 1}"#).contains("`title`"));
        assert!(refused(r#"{"number": "1"}"#).contains("`number`"));
        assert!(refused(r#"{"number": -1}"#).contains("non-negative integer"));
        assert!(refused(r#"{"number": 1.5}"#).contains("`number`"));
        assert!(refused(r#"{"number": 18446744073709551616}"#).contains("`number`"));
        assert!(refused(r#"{"merged": "yes"}"#).contains("`merged`"));
        assert!(refused(r#"{"head": []}"#).contains("`head`"));
        assert!(refused(r#"{"head": {"message": false}}"#).contains("`head.message`"));
        assert!(refused(r#"{"commits": [1]}"#).contains("`commits`"));
        assert!(refused(r#"{"commits": [{"message": 2}]}"#).contains("`commits[].message`"));
    }

    #[test]
    fn a_repeated_key_of_interest_is_refused() {
        assert!(refused(r#"{"title": "a", "title": "b"}"#).contains("duplicate key `title`"));
        // Repeats among skipped keys are not our business.
        ok(r#"{"x": 1, "x": 2}"#);
    }

    #[test]
    fn only_an_object_is_a_delivery() {
        for doc in ["[]", "\"x\"", "1", "null", "true", ""] {
            refused(doc);
        }
    }

    #[test]
    fn not_utf8_is_refused() {
        let mut body = br#"{"title": "x"#.to_vec();
        body.push(0xff);
        body.extend_from_slice(br#""}"#);
        assert!(pick(&body, SCHEMA).is_err());
    }

    #[test]
    fn nesting_is_bounded_without_using_the_stack() {
        let deep = format!(
            "{{\"skip\": {}{}}}",
            "[".repeat(100_000),
            "]".repeat(100_000)
        );
        assert!(refused(&deep).contains("nested too deeply"));
        let fine = format!("{{\"skip\": {}{}}}", "[".repeat(120), "]".repeat(120));
        ok(&fine);
    }

    /// Validity agrees with serde_json on documents around every grammar rule.
    #[test]
    fn agrees_with_serde_json_on_what_is_json() {
        let docs = [
            r#"{}"#,
            r#"{"a":1}"#,
            r#"{"a":1,}"#,
            r#"{"a" 1}"#,
            r#"{a:1}"#,
            r#"{"a":01}"#,
            r#"{"a":-0}"#,
            r#"{"a":-}"#,
            r#"{"a":1.}"#,
            r#"{"a":.5}"#,
            r#"{"a":1e}"#,
            r#"{"a":1E+2}"#,
            r#"{"a":1e-2}"#,
            r#"{"a":+1}"#,
            r#"{"a":tru}"#,
            r#"{"a":nul}"#,
            r#"{"a":[1,]}"#,
            r#"{"a":[,1]}"#,
            r#"{"a":[1 2]}"#,
            r#"{"a":[1}"#,
            r#"{"a":{"b":1]}"#,
            r#"{"a":"\x"}"#,
            r#"{"a":"\u12"}"#,
            r#"{"a":"\ud800"}"#,
            r#"{"a":"\udc00"}"#,
            r#"{"a":"\ud800\u0041"}"#,
            "{\"a\":\"tab\there\"}",
            r#"{"a":"unterminated}"#,
            r#"{"a":1} x"#,
            r#"{"a":1} "#,
            r#"{"a":1}}"#,
            r#"{"title":"x","a":{"b":[{"c":[]}]},"d":[[],{}]}"#,
            "\t\n\r {\"a\" : [ 1 , 2 ] } \n",
            r#"{"a":"\uD83D\uDE00"}"#,
            r#"{"a":"\uDEAD"}"#,
            r#"{"":0}"#,
        ];
        for doc in docs {
            let serde_ok =
                serde_json::from_str::<serde_json::Value>(doc).is_ok_and(|v| v.is_object());
            assert_eq!(
                pick(doc.as_bytes(), &[]).is_ok(),
                serde_ok,
                "disagreement on {doc:?}"
            );
            // The same with every key of interest, so the picking paths see them too.
            let with_schema = doc.replace("\"a\"", "\"title\"");
            let serde_ok = serde_json::from_str::<serde_json::Value>(&with_schema).is_ok_and(|v| {
                v.is_object() && v.get("title").is_none_or(|t| t.is_string() || t.is_null())
            });
            assert_eq!(
                pick(with_schema.as_bytes(), SCHEMA).is_ok(),
                serde_ok,
                "disagreement on {with_schema:?}"
            );
        }
    }
}
