//! The trimmer's rules, one test per shape of reply.

use super::*;

fn reply(text: &str) -> String {
    extract(text, &Hints::default()).reply_text
}

fn reply_extract(text: &str) -> Extracted {
    extract(text, &Hints::default())
}

#[test]
fn our_marker_cuts_everything_below() {
    let out = reply_extract(&format!(
        "Thanks, see you then.\n\n{REPLY_MARKER}\n\nFred wrote:\n\nAre we on?\n"
    ));
    assert_eq!(out.reply_text, "Thanks, see you then.");
    assert_eq!(out.rule, Rule::ReplyMarker);
    assert!(out.elided_text.contains("Are we on?"));
}

#[test]
fn top_posted_replies_lose_attribution_and_quote() {
    assert_eq!(
        reply(
            "Sounds good.\n\nOn Tue, Jan 26, 2016 at 10:00 AM, Fred <fred@example.com>\nwrote:\n\n> Shall we meet?\n"
        ),
        "Sounds good."
    );
    assert_eq!(
        reply(
            "Ja, gerne.\n\nAm 27.01.2016 um 10:00 schrieb Fred <fred@example.com>:\n> Treffen?\n"
        ),
        "Ja, gerne."
    );
}

#[test]
fn outlook_header_blocks_and_rules_are_history() {
    assert_eq!(
        reply(
            "Outlook with a reply\n________________________________________\nFrom: CRM [crm@example.com]\nSent: Friday, 23 March 2012 5:08 p.m.\nTo: John\nSubject: Hi\n\nOld text\n"
        ),
        "Outlook with a reply"
    );
    assert_eq!(
        reply("Hallo\n\nVon: Fred\nGesendet: Mittwoch\nAn: Tina\nBetreff: Hi\n\nAlt\n"),
        "Hallo"
    );
}

#[test]
fn inline_answers_keep_the_quotes_they_answer() {
    let text =
        "> Shall we meet on Monday?\nYes.\n\n> At ten?\nBetter at eleven.\n\n> Old stuff\n> more\n";
    assert_eq!(
        reply(text),
        "> Shall we meet on Monday?\nYes.\n\n> At ten?\nBetter at eleven."
    );
}

#[test]
fn bottom_posted_replies_are_found_below_the_quote() {
    assert_eq!(
        reply("On 04/19/2011 07:10 AM, Roman Tkachenko wrote:\n\n>\n> Test\nTest reply"),
        "Test reply"
    );
}

#[test]
fn signatures_and_footers_go_but_running_text_stays() {
    assert_eq!(
        reply("Fine by me.\n\n-- \nFred\n+1 555 0100\n"),
        "Fine by me."
    );
    assert_eq!(reply("Fine by me.\n\nSent from my iPhone\n"), "Fine by me.");
    assert_eq!(
        reply("I wrote: the tests pass.\nFrom: the top, scroll down."),
        "I wrote: the tests pass.\nFrom: the top, scroll down."
    );
    assert_eq!(reply("a -- b -- c"), "a -- b -- c");
    assert_eq!(reply("See you :)\n***\n"), "See you :)");
}

#[test]
fn a_quote_only_mail_has_no_reply() {
    assert_eq!(reply("> only\n> a quote\n"), "");
    assert_eq!(reply(""), "");
}

#[test]
fn an_attribution_naming_our_address_cuts_in_any_language() {
    let ours = ["reply+abc@reply.example", "notifications@reply.example"];
    let hints = Hints {
        our_addresses: &ours,
    };
    for text in [
        "Díky, platí.\n\nDne 27. 1. 2016 v 10:00 Fred via Conversations <notifications@reply.example> napsal(a):\n> Platí čtvrtek?\n",
        "Díky, platí.\n\nDne 27. 1. 2016 v 10:00 Fred via Conversations\n<notifications@reply.example> napsal(a):\n\n> Platí čtvrtek?\n",
        "Díky, platí.\n\n27.1.2016 Fred <REPLY+abc@reply.example>\n> Platí čtvrtek?\n",
    ] {
        let out = extract(text, &hints);
        assert_eq!(out.reply_text, "Díky, platí.", "{text}");
        assert_eq!(out.rule, Rule::Attribution);
        assert_eq!(out.confidence, Confidence::High);
    }
    // Without the hint the unknown language is not recognised (which is why it exists).
    assert!(
        reply("Díky.\n\nDne 27. 1. 2016 Fred <notifications@reply.example> napsal(a):\nPlatí?\n")
            .contains("napsal")
    );
    // Naming our address in running text is no attribution.
    let text = "Write to notifications@reply.example if you like, it bounces.";
    assert_eq!(extract(text, &hints).reply_text, text);
}
