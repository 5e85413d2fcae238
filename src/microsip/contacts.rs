//! MicroSIP's address book, Contacts.xml next to microsip.ini.
//!
//! `<contacts><contact name="…" number="…"/>…</contacts>`, UTF-8. MicroSIP 3.22.3 writes more
//! attributes per contact (firstname lastname phone mobile email address city state zip
//! comment id info presence starred directory); only the name and the numbers matter here.

use quick_xml::XmlVersion;
use quick_xml::events::{BytesStart, Event};
use quick_xml::reader::Reader;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Contact {
    /// The `name` attribute, else "firstname lastname"; may be empty.
    pub name: String,
    /// The non-empty `number`, `phone` and `mobile`, in that order, without repeats.
    pub numbers: Vec<String>,
}

/// A document that is not a readable Contacts.xml, with where the problem is.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("Contacts.xml line {line}, column {column}: {message}")]
pub struct ContactsError {
    /// Byte offset in the document as given (a byte-order mark included).
    pub offset: usize,
    /// 1-based.
    pub line: usize,
    /// 1-based, in characters.
    pub column: usize,
    pub message: String,
}

impl ContactsError {
    fn at(xml: &str, offset: usize, message: impl Into<String>) -> ContactsError {
        let mut offset = offset.min(xml.len());
        while !xml.is_char_boundary(offset) {
            offset -= 1;
        }
        let before = &xml[..offset];
        let before = before.strip_prefix('\u{feff}').unwrap_or(before);
        let line_start = before.rfind('\n').map_or(0, |i| i + 1);
        ContactsError {
            offset,
            line: before.matches('\n').count() + 1,
            column: before[line_start..].chars().count() + 1,
            message: message.into(),
        }
    }
}

/// The contacts that have at least one number, in file order. An empty document (MicroSIP
/// cut short while writing) has none.
pub fn parse_contacts(xml: &str) -> Result<Vec<Contact>, ContactsError> {
    let body = xml.strip_prefix('\u{feff}').unwrap_or(xml);
    let bom = xml.len() - body.len();
    let mut reader = Reader::from_str(body);
    let mut open: Vec<String> = Vec::new();
    let mut root_seen = false;
    let mut contacts = Vec::new();
    loop {
        let start = bom + reader.buffer_position() as usize;
        let event = reader.read_event().map_err(|e| {
            ContactsError::at(xml, bom + reader.error_position() as usize, e.to_string())
        })?;
        let (element, empty) = match event {
            Event::Start(e) => (e, false),
            Event::Empty(e) => (e, true),
            Event::End(_) => {
                open.pop();
                continue;
            }
            Event::Eof => break,
            _ => continue,
        };
        let name = element.name().as_ref().to_owned();
        if open.is_empty() {
            if root_seen {
                return Err(ContactsError::at(
                    xml,
                    start,
                    format!("a second root element <{name}> after </contacts>"),
                ));
            }
            if name != "contacts" {
                return Err(ContactsError::at(
                    xml,
                    start,
                    format!("the root element is <{name}>, not <contacts>"),
                ));
            }
            root_seen = true;
        } else if open.len() == 1 && name == "contact" {
            let contact = read_contact(&element).map_err(|m| ContactsError::at(xml, start, m))?;
            if !contact.numbers.is_empty() {
                contacts.push(contact);
            }
        }
        if !empty {
            open.push(name);
        }
    }
    if let Some(name) = open.last() {
        return Err(ContactsError::at(
            xml,
            xml.len(),
            format!("the document ends inside <{name}>"),
        ));
    }
    if !root_seen && !body.trim().is_empty() {
        return Err(ContactsError::at(xml, xml.len(), "no <contacts> element"));
    }
    Ok(contacts)
}

fn read_contact(element: &BytesStart) -> Result<Contact, String> {
    let mut name = String::new();
    let mut firstname = String::new();
    let mut lastname = String::new();
    let mut number = String::new();
    let mut phone = String::new();
    let mut mobile = String::new();
    for attribute in element.attributes() {
        let attribute = attribute.map_err(|e| format!("bad attribute in <contact>: {e}"))?;
        let slot = match attribute.key.as_ref() {
            "name" => &mut name,
            "firstname" => &mut firstname,
            "lastname" => &mut lastname,
            "number" => &mut number,
            "phone" => &mut phone,
            "mobile" => &mut mobile,
            _ => continue,
        };
        let value = attribute
            .normalized_value(XmlVersion::Implicit1_0)
            .map_err(|e| {
                format!(
                    "bad value of attribute {:?} in <contact>: {e}",
                    attribute.key.as_ref()
                )
            })?;
        *slot = value.trim().to_owned();
    }
    if name.is_empty() {
        name = [firstname, lastname]
            .into_iter()
            .filter(|part| !part.is_empty())
            .collect::<Vec<_>>()
            .join(" ");
    }
    let mut numbers: Vec<String> = Vec::new();
    for candidate in [number, phone, mobile] {
        if !candidate.is_empty() && !numbers.contains(&candidate) {
            numbers.push(candidate);
        }
    }
    Ok(Contact { name, numbers })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn contact(name: &str, numbers: &[&str]) -> Contact {
        Contact {
            name: name.to_owned(),
            numbers: numbers.iter().map(|n| (*n).to_owned()).collect(),
        }
    }

    #[test]
    fn the_3_19_shape() {
        let contacts = parse_contacts(include_str!(
            "../../tests/fixtures/microsip/contacts-3.19.xml"
        ))
        .unwrap();
        assert_eq!(
            contacts,
            [
                contact("Alice Example", &["100"]),
                contact("Bob & Sons <Plumbing>", &["+4930123456"]),
                contact("sip contact", &["bob@pbx.example.com"]),
            ]
        );
    }

    #[test]
    fn the_3_22_3_shape() {
        let contacts = parse_contacts(include_str!(
            "../../tests/fixtures/microsip/contacts-3.22.3.xml"
        ))
        .unwrap();
        assert_eq!(
            contacts,
            [
                contact("Alice Example", &["100", "+4930111", "+491701111"]),
                contact("Zoë Müller", &["101", "+4930222"]),
                contact("François \"Frank\" d'Arc", &["102"]),
                contact("佐藤 花子", &["+81312345678"]),
                contact("Grace Hopper", &["+15550001"]),
                contact("", &["+15550002"]),
            ]
        );
    }

    #[test]
    fn entities_are_decoded() {
        let contacts = parse_contacts(
            r#"<contacts><contact name="A &amp; B &lt;x&gt; &quot;q&quot; &apos;s&apos; &#233;&#xE9;&#x1F600;" number="&#49;&#x30;0"/></contacts>"#,
        )
        .unwrap();
        assert_eq!(contacts, [contact("A & B <x> \"q\" 's' éé😀", &["100"])]);
    }

    #[test]
    fn non_ascii_names_are_kept() {
        let contacts = parse_contacts(
            "<contacts>\n<contact name=\"Ωμέγα Ünïcödé 日本 😀\" number=\"1\"/>\n</contacts>",
        )
        .unwrap();
        assert_eq!(contacts, [contact("Ωμέγα Ünïcödé 日本 😀", &["1"])]);
    }

    #[test]
    fn name_falls_back_to_first_and_last_name() {
        let contacts = parse_contacts(
            r#"<contacts>
                <contact name="" firstname=" Ada " lastname="Lovelace" number="1"/>
                <contact firstname="Ada" number="2"/>
                <contact lastname="Lovelace" number="3"/>
                <contact name="  " number="4"/>
                <contact name="Kept" firstname="Not" lastname="Used" number="5"/>
            </contacts>"#,
        )
        .unwrap();
        let names: Vec<&str> = contacts.iter().map(|c| c.name.as_str()).collect();
        assert_eq!(names, ["Ada Lovelace", "Ada", "Lovelace", "", "Kept"]);
    }

    #[test]
    fn numbers_come_in_order_without_repeats_or_blanks() {
        let contacts = parse_contacts(
            r#"<contacts>
                <contact name="a" number="1" phone="1" mobile="2"/>
                <contact name="b" number="" phone=" " mobile="3"/>
                <contact name="c" mobile="4" phone="5" number="6"/>
                <contact name="d" number=" 7 " phone="7"/>
            </contacts>"#,
        )
        .unwrap();
        assert_eq!(
            contacts,
            [
                contact("a", &["1", "2"]),
                contact("b", &["3"]),
                contact("c", &["6", "5", "4"]),
                contact("d", &["7"]),
            ]
        );
    }

    #[test]
    fn contacts_without_a_number_are_skipped() {
        let contacts = parse_contacts(
            r#"<contacts><contact name="none"/><contact name="empty" number="" phone="" mobile=""/><contact name="one" number="1"></contact></contacts>"#,
        )
        .unwrap();
        assert_eq!(contacts, [contact("one", &["1"])]);
    }

    #[test]
    fn a_bom_a_declaration_and_comments_are_tolerated() {
        let contacts = parse_contacts(
            "\u{feff}<?xml version=\"1.0\"?>\r\n<!-- mine -->\r\n<contacts><contact name=\"A\" number=\"1\"/></contacts>\r\n",
        )
        .unwrap();
        assert_eq!(contacts, [contact("A", &["1"])]);
    }

    #[test]
    fn only_contacts_directly_under_the_root_count() {
        let contacts = parse_contacts(
            r#"<contacts><group><contact name="nested" number="9"/></group><other name="x" number="8"/><contact name="A" number="1"/></contacts>"#,
        )
        .unwrap();
        assert_eq!(contacts, [contact("A", &["1"])]);
    }

    #[test]
    fn empty_documents_have_no_contacts() {
        for xml in [
            "",
            "\u{feff}",
            " \r\n",
            "<contacts/>",
            "<contacts></contacts>",
        ] {
            assert_eq!(parse_contacts(xml), Ok(vec![]), "{xml:?}");
        }
    }

    #[test]
    fn malformed_documents_give_a_position() {
        let cases = [
            // Unknown entity.
            (
                "<contacts>\n  <contact name=\"a &nbsp; b\" number=\"1\"/>\n</contacts>",
                2,
                3,
            ),
            // A bare ampersand.
            (
                "<contacts>\n<contact name=\"a & b\" number=\"1\"/></contacts>",
                2,
                1,
            ),
            // Unquoted attribute value.
            (
                "<contacts>\n<contact name=a number=\"1\"/></contacts>",
                2,
                1,
            ),
            // Mismatched end tag.
            (
                "<contacts>\n<contact name=\"a\" number=\"1\">\n</contacts>",
                3,
                1,
            ),
            // Cut short inside an element.
            ("<contacts>\n<contact name=\"a\" numb", 2, 1),
            // Cut short after an element.
            ("<contacts>\n<contact name=\"a\" number=\"1\"/>\n", 3, 1),
            // Not an address book.
            ("<?xml version=\"1.0\"?>\n<calls/>", 2, 1),
            // Two roots.
            ("<contacts/>\n<contacts/>", 2, 1),
            // Text only.
            ("hello", 1, 6),
            // Repeated attribute.
            (
                "<contacts><contact name=\"a\" name=\"b\" number=\"1\"/></contacts>",
                1,
                11,
            ),
        ];
        for (xml, line, column) in cases {
            let error = parse_contacts(xml).unwrap_err();
            assert_eq!(
                (error.line, error.column),
                (line, column),
                "{xml:?}: {error}"
            );
            assert!(
                error
                    .to_string()
                    .starts_with(&format!("Contacts.xml line {line}, column {column}: "))
            );
        }
    }

    #[test]
    fn error_offsets_count_the_bom() {
        let error = parse_contacts(
            "\u{feff}<contacts>\n<contact name=\"&bad;\" number=\"1\"/>\n</contacts>",
        )
        .unwrap_err();
        assert_eq!(error.offset, 3 + "<contacts>\n".len());
        assert_eq!((error.line, error.column), (2, 1));
    }
}
