//! Mail headers lettre has no type for: threading for Outlook, auto-reply suppression and
//! one-click unsubscribe.

use lettre::message::header::{Header, HeaderName, HeaderValue};

macro_rules! text_header {
    ($(#[$doc:meta])* $ty:ident, $name:literal) => {
        $(#[$doc])*
        #[derive(Debug, Clone)]
        pub struct $ty(pub String);

        impl Header for $ty {
            fn name() -> HeaderName {
                HeaderName::new_from_ascii_str($name)
            }

            fn parse(s: &str) -> Result<Self, Box<dyn std::error::Error + Send + Sync>> {
                Ok(Self(s.to_owned()))
            }

            fn display(&self) -> HeaderValue {
                HeaderValue::new(Self::name(), self.0.clone())
            }
        }
    };
}

text_header!(
    /// RFC 3834: marks the mail as machine-made so auto-responders stay quiet.
    AutoSubmitted,
    "Auto-Submitted"
);
text_header!(
    /// Exchange/Outlook: suppress out-of-office and similar auto-replies.
    XAutoResponseSuppress,
    "X-Auto-Response-Suppress"
);
text_header!(
    /// RFC 2369: where to unsubscribe.
    ListUnsubscribe,
    "List-Unsubscribe"
);
text_header!(
    /// RFC 8058: the unsubscribe URL takes a one-click POST.
    ListUnsubscribePost,
    "List-Unsubscribe-Post"
);
text_header!(
    /// Outlook threading: the conversation topic.
    ThreadTopic,
    "Thread-Topic"
);
text_header!(
    /// Outlook threading: 22 bytes identifying the thread (+5 per reply), base64.
    ThreadIndex,
    "Thread-Index"
);
