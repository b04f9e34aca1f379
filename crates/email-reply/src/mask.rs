//! The leak guard: the relay masks addresses, but a reply can carry them back in (an
//! attribution line kept, a signature, a pasted mail). Before posting, every real address
//! of a participant is replaced with that person's name.

/// A participant of the conversation, as the leak guard needs them.
#[derive(Debug, Clone)]
pub struct Person<'a> {
    /// The real address (matched case-insensitively).
    pub email: &'a str,
    /// What to show instead: the display name, or a neutral alias.
    pub shown_as: &'a str,
}

/// `text` with every participant's real address replaced by how they are shown
/// (`mailto:` links and `<…>` brackets included).
pub fn mask(text: &str, people: &[Person<'_>]) -> String {
    let mut out = text.to_owned();
    for person in people {
        let email = person.email.trim();
        if email.is_empty() {
            continue;
        }
        for form in [
            format!("<mailto:{email}>"),
            format!("mailto:{email}"),
            format!("<{email}>"),
        ] {
            out = replace_ignoring_case(&out, &form, person.shown_as);
        }
        out = replace_ignoring_case(&out, email, person.shown_as);
    }
    out
}

/// Replaces every ASCII-case-insensitive occurrence of `needle`.
fn replace_ignoring_case(haystack: &str, needle: &str, with: &str) -> String {
    if needle.is_empty() {
        return haystack.to_owned();
    }
    let lower_haystack = haystack.to_ascii_lowercase();
    let lower_needle = needle.to_ascii_lowercase();
    let mut out = String::with_capacity(haystack.len());
    let mut from = 0;
    while let Some(found) = lower_haystack[from..].find(&lower_needle) {
        let start = from + found;
        out.push_str(&haystack[from..start]);
        out.push_str(with);
        from = start + needle.len();
    }
    out.push_str(&haystack[from..]);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn real_addresses_become_names_in_every_form() {
        let people = [
            Person {
                email: "fred@example.com",
                shown_as: "Fred",
            },
            Person {
                email: "tina@example.com",
                shown_as: "Tina",
            },
        ];
        let text =
            "Fred <FRED@example.com> wrote:\nwrite to mailto:tina@example.com or tina@example.com";
        let masked = mask(text, &people);
        assert_eq!(masked, "Fred Fred wrote:\nwrite to Tina or Tina");
        assert!(!masked.to_lowercase().contains("@example.com"));
    }

    #[test]
    fn other_text_is_untouched() {
        let people = [Person {
            email: "fred@example.com",
            shown_as: "Fred",
        }];
        assert_eq!(
            mask("Grüße, bob@other.example", &people),
            "Grüße, bob@other.example"
        );
    }
}
