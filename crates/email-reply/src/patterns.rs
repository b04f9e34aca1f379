//! The line patterns the trimmer recognises, compiled once per process.
//!
//! Every pattern is anchored to a whole (trimmed) line, or to a few lines joined where mail
//! clients wrap an attribution, so that running text that merely contains "wrote:" or
//! "From:" never matches.

use std::sync::LazyLock;

use regex::Regex;

/// The compiled patterns.
pub(crate) struct Patterns {
    /// "On … wrote:" and its translations (one to three lines joined by spaces).
    pub attribution: Vec<Regex>,
    /// The first line of a header block: "From:" and translations (optionally bold).
    pub header_from: Regex,
    /// Other header lines of such a block: "Sent:", "To:", "Subject:", "Date:" … .
    pub header_other: Regex,
    /// "-----Original Message-----", forwarded-message markers and their translations.
    pub separator: Regex,
    /// A horizontal rule of underscores or dashes that clients put above a header block.
    pub rule: Regex,
    /// Mobile and desktop client footers ("Sent from my iPhone" …).
    pub footer: Regex,
    /// A line ending in a colon that introduces a quote ("Fred wrote:", "Fred <x@y>:").
    pub quote_intro: Regex,
    /// A short sender-first attribution without an address, on its own line: "Fred wrote:".
    pub short_attribution: Regex,
    /// An attribution at the end of a line of text: "reply On Wed, … wrote:".
    pub trailing_attribution: Regex,
    /// A one-line sign-off with a dash: "-Abhishek Kona".
    pub dash_signoff: Regex,
    /// An attribution with the quoted text going on after it on the same line, as Yahoo
    /// for Android writes it ("On …, Fred wrote:   Hi Tina,").
    pub attribution_then_text: Regex,
    /// How an attribution that stands on its own starts ("On", "Am", a date …), as
    /// opposed to the continuation of a wrapped one ("<fred@example.com> wrote:").
    pub attribution_start: Regex,
    /// The separators that announce a forwarded (rather than quoted) mail.
    pub forwarded: Regex,
    /// A sign-off on a line of its own ("Best regards,", "Mit freundlichen Grüßen",
    /// "С уважением,"), optionally followed by the name on the same line.
    pub signoff: Regex,
    /// A line of a signature's contact block: a phone, fax or mobile label, a web or mail
    /// address.
    pub contact: Regex,
}

fn compile(pattern: &str) -> Regex {
    // The patterns are constants of this file, covered by its tests: a failure here is a
    // programming error caught before release, not something input can cause.
    #[allow(clippy::expect_used)]
    Regex::new(pattern).expect("valid built-in pattern")
}

/// Words that end an attribution ("… wrote:") in the languages we cover.
const WROTE: &str = r"(?:het volgende geschreven|geschreven|folgendes geschrieben|geschrieben|wrote|writes|said|schrieb|schreibt|a écrit|a ecrit|escribió|escribio|ha scritto|scrive|escreveu|schreef|skrev|skriver|napisał\(a\)|napisała|napisał|pisze|написал\(а\)|написала|написал|пишет|kirjoitti|yazdı)";

/// Sign-offs in the languages we cover, as people end a mail before their name.
const SIGNOFFS: &str = r"thanks|thank you|many thanks|thanks again|thanks a lot|thx|cheers|best|all the best|best regards|kind regards|warm regards|warmest regards|regards|best wishes|sincerely|yours sincerely|sincerely yours|yours truly|yours|take care|talk soon|mit freundlichen grüßen|mit freundlichen grüssen|freundliche grüße|freundliche grüsse|viele grüße|viele grüsse|beste grüße|liebe grüße|herzliche grüße|schöne grüße|grüße|gruß|mfg|lg|vg|danke|vielen dank|cordialement|bien cordialement|bien à vous|salutations|amicalement|merci|merci beaucoup|bonne journée|à bientôt|saludos|un saludo|saludos cordiales|atentamente|cordialmente|un abrazo|gracias|muchas gracias|cordiali saluti|distinti saluti|saluti|un saluto|grazie|grazie mille|a presto|atenciosamente|cumprimentos|melhores cumprimentos|abraços|abraço|obrigado|obrigada|met vriendelijke groet|met vriendelijke groeten|vriendelijke groet|hartelijke groet|groeten|groet|bedankt|med vänliga hälsningar|vänliga hälsningar|hälsningar|med venlig hilsen|venlig hilsen|de bedste hilsner|bedste hilsner|med vennlig hilsen|vennlig hilsen|hilsen|mvh|tack|tak|takk|pozdrawiam|z poważaniem|serdecznie pozdrawiam|pozdrowienia|dziękuję|с уважением|всего доброго|всего наилучшего|спасибо|よろしくお願いします|よろしくお願いいたします|宜しくお願いします|宜しくお願い致します|以上|此致敬礼|此致|敬礼|祝好|谢谢|謝謝";

pub(crate) static PATTERNS: LazyLock<Patterns> = LazyLock::new(|| {
    Patterns {
    attribution: [
        // English, German, French, Spanish, Italian, Portuguese, Dutch, Nordic, Polish,
        // Russian, Finnish, Turkish clients: an introductory word, then the date and
        // the person, then "wrote" (the person may follow it: "schrieb Fred:").
        &format!(
            r"(?i)^(?:on|at|am|le|el|il|em|no dia|op|den|på|w dniu|dnia|в|\d{{1,4}}[./-]\d{{1,2}}[./-]\d{{1,4}}|(?:mon|tue|wed|thu|fri|sat|sun|mo|di|mi|do|fr|sa|so|lun|mar|mer|jeu|ven|sam|dim|man|tir|ons|tor|fre|lør|søn|tis|fre|lör|sön|pon|wt|śr|czw|pt|sob|niedz|пн|вт|ср|чт|пт|сб|вс|понедельник|вторник|среда|четверг|пятница|суббота|воскресенье)\.?,?)\b.{{0,250}}\b{WROTE}\b.{{0,120}}[:：]\s*$"
        ),
        // The person first, with their address: "Fred <fred@example.com> wrote:",
        // "Max <max@example.com> schrieb am Fr., 28. Apr. 2017 um 11:53 Uhr:".
        &format!(
            r#"(?i)^.{{0,200}}(?:<[^<>]*@[^<>]*>|\S+@\S+|\([^()]*@[^()]*\)).{{0,60}}\b{WROTE}\b.{{0,120}}[:：]\s*$"#
        ),
        // Android and webmail: "---- Fred wrote ----", "-----On 12/29/1987, Fred wrote-----".
        &format!(r"(?i)^-{{2,}}\s*.{{0,250}}\b{WROTE}\s*-{{2,}}\s*$"),
        // Gmail in locales that put the date first and end with the address:
        // "2016-01-27 10:00 GMT+01:00 Fred <fred@example.com>:", older ones without the
        // colon ("2011/4/7 Fred <fred@example.com>"), or with only the name.
        r"^\d{4}[-./年]\s*\d{1,2}[-./月]\s*\d{1,2}.{0,200}<\s*[^<>\s]+@[^<>\s]+\s*>\s*[:：]?\s*$",
        r"^\d{4}-\d{2}-\d{2} \d{1,2}:\d{2} GMT[+-]\d{1,2}:\d{2} .{1,120}$",
        // Any locale: a time, then the sender's address ending the attribution.
        r"^.{0,120}\d{1,2}[:.]\d{2}.{0,150}<\s*[^<>\s]+@[^<>\s]+\s*>\s*[:：]\s*$",
        // Japanese ("… のメッセージ:", "… が書きました:") and Chinese ("… 写道：").
        r"^.{0,250}(?:のメッセージ|が書きました|は書きました|写道|寫道)\s*[:：]?\s*$",
    ]
    .iter()
    .map(|p| compile(p))
    .collect(),
    header_from: compile(
        r"(?i)^[*_]{0,2}(?:from|von|de|da|van|från|fra|od|от|差出人|发件人|寄件者|lähettäjä|kimden|feladó)\s*[*_]{0,2}\s*[:：]\s*[*_]{0,2}\s*\S",
    ),
    header_other: compile(
        r"(?i)^[*_]{0,2}(?:sent|date|to|cc|subject|gesendet|datum|an|betreff|envoyé|envoye|date d'envoi|à|a|objet|enviado|fecha|para|asunto|inviato|data|oggetto|verzonden|aan|onderwerp|skickat|till|ämne|sendt|til|emne|wysłano|do|temat|отправлено|кому|тема|дата|送信日時|宛先|件名|发送时间|收件人|主题|lähetetty|vastaanottaja|aihe|gönderildi|konu)\s*[*_]{0,2}\s*[:：]",
    ),
    separator: compile(
        r"(?i)^[\s>*_]*(?:[-‐‑‒–—]{2,}|_{2,}|={2,})?\s*(?:original message|reply message|antwort nachricht|ursprüngliche nachricht|message d'origine|mensaje original|messaggio originale|oorspronkelijk bericht|oorspronkelijk e-mailbericht|ursprungligt meddelande|opprinnelig melding|original meddelelse|oprindelig meddelelse|wiadomość oryginalna|oryginalna wiadomość|исходное сообщение|пересылаемое сообщение|alkuperäinen viesti|forwarded message|weitergeleitete nachricht|message transféré|mensaje reenviado|messaggio inoltrato|doorgestuurd bericht|vidarebefordrat meddelande|videresendt meddelelse|videresendt melding|wiadomość przekazana dalej|begin forwarded message|anfang der weitergeleiteten nachricht|début du message réexpédié|inicio del mensaje reenviado|原始邮件|原始郵件|元のメッセージ|転送されたメッセージ)\s*[:：]?\s*(?:[-‐‑‒–—]{2,}|_{2,}|={2,})?[*_]*\s*$",
    ),
    rule: compile(r"^\s*(?:_{8,}|-{8,})\s*$"),
    footer: compile(
        r"(?i)^[\s(<\[*]*(?:(?:sent|envoyé|enviado|inviato|verzonden|verstuurd|skickat|sendt|wysłane|отправлено|gesendet)\s(?:from|with|via|by|de|depuis|desde|do|de meu|da|dal|met|vanaf|van|från|fra|z|с|von)\s(?:my\s|mon\s|mi\s|meu\s|mijn\s|min\s|mojego\s|meinem\s)?(?:\S+\s){0,2}?(?:\[?(?:mail|outlook|iphone|ipad|ipod|android|galaxy|samsung|htc|blackberry|mobile|mobil|phone|cell|device|airmail|mailbox|yahoo|windows|sparrow|protonmail|proton mail|handy|smartphone|tablet|alcatel|nokia|sony|xperia|pixel|huawei|oneplus|motorola|lg|k-9|tablette|portable|teléfono|telefon|telefono|móvil|celular|ti-\d+)\b)|get\s\[?outlook for\b|holen sie sich outlook für|obtenir outlook pour|obtener outlook para|scarica outlook per|download outlook voor|hämta outlook för|få outlook til|pobierz outlook dla|baixe o outlook para|von meinem\s.{1,40}\sgesendet|diese nachricht wurde von meinem\s|someone from mobile|from my iphone|iphoneから送信|发自我的|發自我的|從我的\s?\S+\s?傳送).{0,120}$",
    ),
    quote_intro: compile(r"^.{1,200}[:：]\s*$"),
    short_attribution: compile(&format!(r"(?i)^[\w .'\-]{{1,60}}\s{WROTE}\s*[:：]\s*$")),
    trailing_attribution: compile(&format!(
        r"(?i)^(?P<reply>.*?[^\s-])\s*(?:-{{2,}}\s*|\s)(?:on|am|le|el|il|op|den)\s.{{0,250}}\b{WROTE}\s*[:：]\s*$"
    )),
    forwarded: compile(
        r"(?i)forward|weitergeleitet|transféré|reenviado|inoltrato|doorgestuurd|vidarebefordrat|videresendt|przekazana|пересылаемое|転送",
    ),
    attribution_then_text: compile(&format!(
        r"(?i)^(?:on|am|le|el|il|em|op|den)\s.{{0,250}}<[^<>\s]+@[^<>\s]+>\s*{WROTE}\s*[:：]\s+\S"
    )),
    attribution_start: compile(r"(?i)^(?:on|at|am|le|el|il|em|no dia|op|den|på|w dniu|dnia|в|\d{1,4}[./-]\d{1,2}[./-]\d{1,4}|(?:mon|tue|wed|thu|fri|sat|sun|mo|di|mi|do|fr|sa|so|lun|mar|mer|jeu|ven|sam|dim|man|tir|ons|tor|fre|lør|søn|tis|fre|lör|sön|pon|wt|śr|czw|pt|sob|niedz|пн|вт|ср|чт|пт|сб|вс|понедельник|вторник|среда|четверг|пятница|суббота|воскресенье)\.?,?)\b|^\d{4}\s*年"),
    signoff: compile(&format!(
        r"^(?i:{SIGNOFFS})\s*[,.!。、]?(?:\s+\p{{Lu}}[\p{{L}}.'\-]+(?:\s\p{{Lu}}[\p{{L}}.'\-]+){{0,2}})?\s*$"
    )),
    contact: compile(
        r"(?i)(?:^(?:tel|tél|phone|ph|mobile|mob|cell|fax|handy|mobil|telefon|teléfono|telefono|telefone|телефон|тел|電話|电话|[tmfp])\s*[.:]|www\.|https?://|\S@\S+\.\p{L}|\+\d[\d ()./-]{6,}\d)",
    ),
    dash_signoff: compile(r"^-\s?\p{Lu}[\p{L}.'\-]+(?:\s\p{Lu}[\p{L}.'\-]+){0,3}\s*$"),
}
});

#[cfg(test)]
mod tests {
    use super::*;

    fn attribution(line: &str) -> bool {
        PATTERNS.attribution.iter().any(|p| p.is_match(line))
    }

    #[test]
    fn attributions_in_many_languages_match() {
        for line in [
            "On Tue, Jan 26, 2016 at 10:00 AM, Fred <fred@example.com> wrote:",
            "On 04/19/2011 07:10 AM, Roman Tkachenko wrote:",
            "Am 27.01.2016 um 10:00 schrieb Fred Müller <fred@example.com>:",
            "Le 27 janv. 2016 à 10:00, Fred <fred@example.com> a écrit :",
            "El 27 ene 2016, a las 10:00, Fred <fred@example.com> escribió:",
            "Il giorno 27 gen 2016, alle ore 10:00, Fred <fred@example.com> ha scritto:",
            "Em 27 de jan de 2016, às 10:00, Fred <fred@example.com> escreveu:",
            "Op 27 jan. 2016 om 10:00 heeft Fred <fred@example.com> het volgende geschreven:",
            "Den tis 27 jan. 2016 kl 10:00 skrev Fred <fred@example.com>:",
            "tir. 27. jan. 2016 kl. 10.00 skrev Fred <fred@example.com>:",
            "W dniu 27.01.2016 o 10:00, Fred <fred@example.com> pisze:",
            "27 янв. 2016 г., в 10:00, Fred <fred@example.com> написал(а):",
            "2016年1月27日(水) 10:00 Fred <fred@example.com>:",
            "Fred <fred@example.com> 于2016年1月27日周三 上午10:00写道：",
            "Max <max@example.com> schrieb am Fr., 28. Apr. 2017 um 11:53 Uhr:",
            "---- Fred wrote ----",
            "2014-10-17 11:28 GMT+03:00 Postmaster <postmaster@example.com>:",
        ] {
            assert!(attribution(line), "not an attribution: {line}");
        }
    }

    #[test]
    fn a_short_attribution_needs_the_quote_below_it() {
        // "Fred wrote:" alone is also running text; the trimmer takes it only above a quote.
        assert!(!attribution("Fred wrote:"));
        assert!(PATTERNS.short_attribution.is_match("Fred wrote:"));
    }

    #[test]
    fn running_text_is_not_an_attribution() {
        for line in [
            "I wrote: the code is fine, but the tests are not.",
            "From: the top of the page, scroll down to the settings.",
            "On Monday we wrote a lot of code and it works.",
        ] {
            assert!(!attribution(line), "taken for an attribution: {line}");
        }
    }

    #[test]
    fn footers_and_separators_match() {
        for line in [
            "Sent from my iPhone",
            "Sent from my Galaxy",
            "Get Outlook for iOS",
            "Sent from Mail for Windows",
            "Von meinem iPhone gesendet",
            "Envoyé de mon iPhone",
            "Enviado desde mi iPhone",
            "Verzonden met mijn iPhone",
        ] {
            assert!(PATTERNS.footer.is_match(line), "{line}");
        }
        for line in [
            "-----Original Message-----",
            "-----Ursprüngliche Nachricht-----",
            "---------- Forwarded message ---------",
            "Begin forwarded message:",
            "-------- Message d'origine --------",
        ] {
            assert!(PATTERNS.separator.is_match(line), "{line}");
        }
    }
}
