//! What an integrator application decides for itself.

/// An application's settings. Every field has the default a new application gets.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ApplicationSettings {
    /// Replies that come by email have every phone number replaced before they are posted
    /// (participants' addresses always are). Off by default: most applications want a
    /// phone number someone writes to reach the others; a marketplace that keeps its users
    /// from taking a deal elsewhere turns it on.
    pub mask_phone_numbers: bool,
}

/// Where an integrator shows a conversation on its own site, so that the link in every
/// notification opens there (e.g. `https://shop.example/messages/{conversation_id}`):
/// an absolute `https` or `http` URL holding [`ConversationUrl::PLACEHOLDER`], which the
/// conversation's id replaces. Without one, notifications link to our own page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConversationUrl(String);

impl ConversationUrl {
    /// The part of the template the conversation's id replaces.
    pub const PLACEHOLDER: &'static str = "{conversation_id}";
    /// Longer URLs break in mail clients.
    pub const MAX_CHARS: usize = 2000;

    /// Validates a template; `field` names it in the error.
    pub fn parse(field: &'static str, raw: &str) -> Result<Self, crate::DomainError> {
        let invalid = |reason: &str| crate::DomainError::InvalidValue {
            field,
            reason: reason.to_owned(),
        };
        let value = raw.trim();
        if raw.chars().count() > Self::MAX_CHARS {
            return Err(invalid("a conversation URL has at most 2000 characters"));
        }
        let Some(rest) = value
            .strip_prefix("https://")
            .or_else(|| value.strip_prefix("http://"))
        else {
            return Err(invalid(
                "a conversation URL starts with https:// (or http://)",
            ));
        };
        let host = rest.split(['/', '?', '#']).next().unwrap_or_default();
        if host.is_empty() || host.contains('{') {
            return Err(invalid("a conversation URL names a host"));
        }
        if value.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(invalid(
                "a conversation URL holds no spaces or control characters",
            ));
        }
        if value.matches(Self::PLACEHOLDER).count() != 1
            || value
                .replacen(Self::PLACEHOLDER, "", 1)
                .contains(['{', '}'])
        {
            return Err(invalid(
                "a conversation URL holds {conversation_id} exactly once, and no other brace",
            ));
        }
        Ok(Self(value.to_owned()))
    }

    /// The template as set.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The link to conversation `id`.
    pub fn to_conversation(&self, id: &str) -> String {
        self.0.replace(Self::PLACEHOLDER, id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_template_is_an_absolute_url_with_one_placeholder() {
        let url = ConversationUrl::parse(
            "u",
            " https://shop.example/messages/{conversation_id}?tab=1 ",
        )
        .expect("valid");
        assert_eq!(
            url.to_conversation("abc"),
            "https://shop.example/messages/abc?tab=1"
        );
        assert!(ConversationUrl::parse("u", "http://localhost:3000/c/{conversation_id}").is_ok());
        for bad in [
            "shop.example/{conversation_id}",
            "javascript:alert(1)//{conversation_id}",
            "https://shop.example/messages",
            "https://shop.example/{conversation_id}/{conversation_id}",
            "https:///{conversation_id}",
            "https://{conversation_id}/",
            "https://shop.example/a b/{conversation_id}",
            "",
        ] {
            assert!(ConversationUrl::parse("u", bad).is_err(), "{bad}");
        }
        let long = format!(
            "https://shop.example/{}{{conversation_id}}",
            "a".repeat(2000)
        );
        assert!(ConversationUrl::parse("u", &long).is_err());
    }
}
