//! Upper bounds on everything that enters the system, so no request can make us store or
//! send unbounded data. They are documented in README.md ("Limits").

/// Most participants (active or having left) one conversation may have.
pub const MAX_PARTICIPANTS: usize = 100;
/// Longest message text, in characters (Unicode scalar values, as JSON Schema's
/// `maxLength` counts them).
pub const MAX_TEXT_CHARS: usize = 64 * 1024;
/// Longest subject, in characters.
pub const MAX_SUBJECT_CHARS: usize = 255;
/// Longest display name, in characters.
pub const MAX_DISPLAY_NAME_CHARS: usize = 100;
/// Longest integrator-defined id, in characters.
pub const MAX_EXTERNAL_ID_CHARS: usize = 255;
/// Longest message source name, in characters.
pub const MAX_SOURCE_CHARS: usize = 64;
/// Characters of the first line of text used as a subject when none is given.
pub const DERIVED_SUBJECT_CHARS: usize = 78;
