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
