//! The task id (VTID) a delivery is about, found without a regex engine.
//!
//! Shape: `<LETTERS>-<LETTERS/DIGITS>-<4 digits>` in ASCII upper case (`DEV-CICDL-0031`),
//! case-sensitive, word-bounded: the characters just before and after must not be letters,
//! digits or `_` (Unicode-aware, so a VTID glued to `é` does not count either).

/// `UNSET`: no VTID found.
pub(crate) const UNSET: &str = "UNSET";

/// A VTID and its middle part (the layer).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Vtid<'a> {
    /// The whole id, e.g. `DEV-CICDL-0031`.
    pub(crate) id: &'a str,
    /// The middle part, e.g. `CICDL`.
    pub(crate) layer: &'a str,
}

fn is_word(c: char) -> bool {
    c.is_alphanumeric() || c == '_'
}

/// The first VTID in `text`.
#[must_use]
pub(crate) fn find(text: &str) -> Option<Vtid<'_>> {
    let mut previous: Option<char> = None;
    for (start, c) in text.char_indices() {
        if c.is_ascii_uppercase()
            && !previous.is_some_and(is_word)
            && let Some(found) = text.get(start..).and_then(match_at)
        {
            return Some(found);
        }
        previous = Some(c);
    }
    None
}

/// Matches a VTID at the very start of `text`, followed by a word boundary.
fn match_at(text: &str) -> Option<Vtid<'_>> {
    let bytes = text.as_bytes();
    let prefix = bytes.iter().take_while(|b| b.is_ascii_uppercase()).count();
    let rest = bytes.get(prefix..)?;
    if prefix == 0 || rest.first() != Some(&b'-') {
        return None;
    }
    let middle_start = prefix + 1;
    let middle = bytes
        .get(middle_start..)?
        .iter()
        .take_while(|b| b.is_ascii_uppercase() || b.is_ascii_digit())
        .count();
    let dash = middle_start + middle;
    if middle == 0 || bytes.get(dash) != Some(&b'-') {
        return None;
    }
    let digits_start = dash + 1;
    let digits = bytes
        .get(digits_start..)?
        .iter()
        .take_while(|b| b.is_ascii_digit())
        .count();
    let end = digits_start + digits;
    if digits != 4 {
        return None;
    }
    if text.get(end..)?.chars().next().is_some_and(is_word) {
        return None;
    }
    Some(Vtid {
        id: text.get(..end)?,
        layer: text.get(middle_start..dash)?,
    })
}

/// The first VTID found in `candidates`, searched in order.
#[must_use]
pub(crate) fn first<'a>(candidates: impl IntoIterator<Item = &'a str>) -> Option<Vtid<'a>> {
    candidates.into_iter().find_map(find)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(text: &str) -> Option<(&str, &str)> {
        find(text).map(|v| (v.id, v.layer))
    }

    #[test]
    fn plain_vtid() {
        assert_eq!(id("DEV-CICDL-0031"), Some(("DEV-CICDL-0031", "CICDL")));
    }

    #[test]
    fn first_of_several() {
        assert_eq!(
            id("fix DEV-AB-0001 and OPS-CD-0002"),
            Some(("DEV-AB-0001", "AB"))
        );
    }

    #[test]
    fn lower_case_does_not_count() {
        assert_eq!(id("dev-cicdl-0031"), None);
        assert_eq!(id("Dev-CICDL-0031"), None);
        assert_eq!(
            id("dev-cicdl-0031 then DEV-X1-0002"),
            Some(("DEV-X1-0002", "X1"))
        );
    }

    #[test]
    fn glued_to_other_text_does_not_count() {
        assert_eq!(id("xDEV-CICDL-0031"), None);
        assert_eq!(id("DEV-CICDL-00312"), None);
        assert_eq!(id("DEV-CICDL-0031a"), None);
        assert_eq!(id("_DEV-CICDL-0031"), None);
        assert_eq!(id("9DEV-CICDL-0031"), None);
    }

    #[test]
    fn punctuation_bounds_it() {
        assert_eq!(
            id("feature/DEV-CICDL-0031-retry"),
            Some(("DEV-CICDL-0031", "CICDL"))
        );
        assert_eq!(id("[DEV-CICDL-0031]"), Some(("DEV-CICDL-0031", "CICDL")));
        assert_eq!(id("(DEV-9-1234)."), Some(("DEV-9-1234", "9")));
    }

    #[test]
    fn wrong_digit_counts() {
        assert_eq!(id("DEV-CICDL-031"), None);
        assert_eq!(id("DEV--0031"), None);
        assert_eq!(id("-CICDL-0031"), None);
    }

    #[test]
    fn non_ascii_text_around_it() {
        assert_eq!(
            id("Ünïcödé → DEV-CICDL-0031 ✓"),
            Some(("DEV-CICDL-0031", "CICDL"))
        );
        assert_eq!(id("éDEV-CICDL-0031"), None);
        assert_eq!(id("DEV-CICDL-0031é"), None);
        assert_eq!(id("日本語DEV-CICDL-0031"), None);
        assert_eq!(id("ДЕВ-CICDL-0031"), None);
    }

    #[test]
    fn nothing_in_empty_text() {
        assert_eq!(id(""), None);
        assert_eq!(first(Vec::<&str>::new()), None);
    }

    #[test]
    fn search_order_wins_over_position() {
        let found = first(["no id here", "OPS-B-0002", "DEV-A-0001"]).map(|v| v.id);
        assert_eq!(found, Some("OPS-B-0002"));
    }
}
