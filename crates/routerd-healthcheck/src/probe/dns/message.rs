//! DNS wire format (RFC 1035 section 4), just enough for a health probe: header, questions, and resource
//! records with their RDATA kept as opaque bytes. No sockets here.
//!
//! Everything read from the wire is untrusted: every length and offset is checked before use, name
//! compression pointers must point strictly backwards (so they cannot loop), names are limited to 255
//! bytes, and any inconsistency is a [`ParseError`], never a panic.

use std::fmt;

/// Class IN.
pub const CLASS_IN: u16 = 1;

/// The longest name on the wire, length octets included (RFC 1035 section 2.3.4).
const NAME_MAX: usize = 255;
/// The longest label (RFC 1035 section 2.3.4).
const LABEL_MAX: usize = 63;
/// Largest DNS message (the TCP length prefix is 16 bits).
pub const MESSAGE_MAX: usize = 65535;

/// Why bytes are not a DNS message we can read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    /// The message ends inside a field.
    #[error("message truncated at offset {offset} reading {what}")]
    Truncated { offset: usize, what: &'static str },
    /// A compression pointer that does not point strictly backwards (a loop or a forward reference).
    #[error("bad compression pointer at offset {offset} (to {target})")]
    BadPointer { offset: usize, target: usize },
    /// Label type 0b01 or 0b10 (RFC 6891 section 5 retired them).
    #[error("unsupported label type {byte:#04x} at offset {offset}")]
    BadLabel { offset: usize, byte: u8 },
    /// The name is longer than 255 bytes.
    #[error("name longer than 255 bytes at offset {offset}")]
    NameTooLong { offset: usize },
}

/// Why a message cannot be encoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EncodeError {
    /// A label is empty or longer than 63 bytes, or the name is longer than 255 bytes.
    #[error("invalid name: {0}")]
    Name(String),
    /// A section has more than 65535 entries or RDATA is longer than 65535 bytes.
    #[error("{0} does not fit in 16 bits")]
    TooMany(&'static str),
}

/// A domain name as a list of labels (without the root's empty label). Comparison is ASCII
/// case-insensitive, as DNS requires (RFC 4343).
#[derive(Debug, Clone, Default)]
pub struct Name {
    labels: Vec<Vec<u8>>,
}

impl PartialEq for Name {
    fn eq(&self, other: &Name) -> bool {
        self.labels.len() == other.labels.len()
            && self
                .labels
                .iter()
                .zip(&other.labels)
                .all(|(a, b)| a.eq_ignore_ascii_case(b))
    }
}

impl Eq for Name {}

impl Name {
    /// The root name `.`.
    pub fn root() -> Name {
        Name::default()
    }

    /// Builds a name from labels, checking the RFC 1035 limits.
    pub fn from_labels(labels: Vec<Vec<u8>>) -> Result<Name, EncodeError> {
        let mut wire_len = 1;
        for l in &labels {
            if l.is_empty() || l.len() > LABEL_MAX {
                return Err(EncodeError::Name(format!(
                    "label of {} bytes (1 to {LABEL_MAX} allowed)",
                    l.len()
                )));
            }
            wire_len += 1 + l.len();
        }
        if wire_len > NAME_MAX {
            return Err(EncodeError::Name(format!(
                "{wire_len} bytes on the wire ({NAME_MAX} allowed)"
            )));
        }
        Ok(Name { labels })
    }

    /// Parses presentation form: `example.com`, `example.com.`, `.` for the root. Escapes are not
    /// supported; labels hold visible ASCII only.
    pub fn parse(text: &str) -> Result<Name, EncodeError> {
        let t = text.trim();
        if t == "." {
            return Ok(Name::root());
        }
        let t = t.strip_suffix('.').unwrap_or(t);
        if t.is_empty() {
            return Err(EncodeError::Name(
                "empty name (use \".\" for the root)".into(),
            ));
        }
        if let Some(c) = t.chars().find(|c| !c.is_ascii_graphic()) {
            return Err(EncodeError::Name(format!("{text:?} contains {c:?}")));
        }
        Name::from_labels(t.split('.').map(|l| l.as_bytes().to_vec()).collect())
            .map_err(|e| EncodeError::Name(format!("{text:?}: {e}")))
    }

    pub fn labels(&self) -> &[Vec<u8>] {
        &self.labels
    }

    fn encode(&self, out: &mut Vec<u8>) {
        for l in &self.labels {
            // Lengths were checked by the constructors (<= 63).
            out.push(l.len() as u8);
            out.extend_from_slice(l);
        }
        out.push(0);
    }
}

impl fmt::Display for Name {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.labels.is_empty() {
            return f.write_str(".");
        }
        for (i, l) in self.labels.iter().enumerate() {
            if i > 0 {
                f.write_str(".")?;
            }
            for b in l {
                if b.is_ascii_graphic() && *b != b'.' && *b != b'\\' {
                    write!(f, "{}", char::from(*b))?;
                } else {
                    write!(f, "\\{b:03}")?;
                }
            }
        }
        Ok(())
    }
}

/// The fixed 12-byte header, minus the counts (they come from the sections).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Header {
    pub id: u16,
    /// QR, Opcode, AA, TC, RD, RA, Z, AD, CD, RCODE as on the wire.
    pub flags: u16,
}

impl Header {
    const QR: u16 = 0x8000;
    const TC: u16 = 0x0200;
    const RD: u16 = 0x0100;

    /// A standard query with RD (recursion desired) set, since probes usually ask a resolver.
    pub fn query(id: u16) -> Header {
        Header {
            id,
            flags: Header::RD,
        }
    }

    /// True in responses.
    pub fn is_response(self) -> bool {
        self.flags & Header::QR != 0
    }

    /// TC: the answer did not fit in the UDP datagram; ask again over TCP.
    pub fn truncated(self) -> bool {
        self.flags & Header::TC != 0
    }

    pub fn opcode(self) -> u8 {
        ((self.flags >> 11) & 0xf) as u8
    }

    /// The 4-bit RCODE of the header (extended RCODEs from EDNS are not used by a probe).
    pub fn rcode(self) -> u8 {
        (self.flags & 0xf) as u8
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Question {
    pub name: Name,
    pub qtype: u16,
    pub qclass: u16,
}

/// A resource record; RDATA is opaque (it may hold compressed names that point into the original
/// message, which is fine: nothing here interprets it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    pub name: Name,
    pub rtype: u16,
    pub rclass: u16,
    pub ttl: u32,
    pub rdata: Vec<u8>,
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Message {
    pub header: Header,
    pub questions: Vec<Question>,
    pub answers: Vec<Record>,
    pub authorities: Vec<Record>,
    pub additionals: Vec<Record>,
}

impl Message {
    /// A query for one question.
    pub fn query(id: u16, question: Question) -> Message {
        Message {
            header: Header::query(id),
            questions: vec![question],
            ..Message::default()
        }
    }

    /// Wire form, names uncompressed, counts taken from the sections.
    pub fn encode(&self) -> Result<Vec<u8>, EncodeError> {
        let count = |n: usize, what| u16::try_from(n).map_err(|_| EncodeError::TooMany(what));
        let mut out = Vec::with_capacity(512);
        out.extend_from_slice(&self.header.id.to_be_bytes());
        out.extend_from_slice(&self.header.flags.to_be_bytes());
        out.extend_from_slice(&count(self.questions.len(), "question count")?.to_be_bytes());
        out.extend_from_slice(&count(self.answers.len(), "answer count")?.to_be_bytes());
        out.extend_from_slice(&count(self.authorities.len(), "authority count")?.to_be_bytes());
        out.extend_from_slice(&count(self.additionals.len(), "additional count")?.to_be_bytes());
        for q in &self.questions {
            q.name.encode(&mut out);
            out.extend_from_slice(&q.qtype.to_be_bytes());
            out.extend_from_slice(&q.qclass.to_be_bytes());
        }
        for r in self
            .answers
            .iter()
            .chain(&self.authorities)
            .chain(&self.additionals)
        {
            r.name.encode(&mut out);
            out.extend_from_slice(&r.rtype.to_be_bytes());
            out.extend_from_slice(&r.rclass.to_be_bytes());
            out.extend_from_slice(&r.ttl.to_be_bytes());
            out.extend_from_slice(&count(r.rdata.len(), "RDATA length")?.to_be_bytes());
            out.extend_from_slice(&r.rdata);
        }
        Ok(out)
    }

    /// Parses a whole message. Bytes after the last record are ignored (some middleboxes pad).
    pub fn parse(bytes: &[u8]) -> Result<Message, ParseError> {
        let mut r = Reader { buf: bytes, pos: 0 };
        let id = r.u16("header id")?;
        let flags = r.u16("header flags")?;
        let qd = r.u16("QDCOUNT")?;
        let an = r.u16("ANCOUNT")?;
        let ns = r.u16("NSCOUNT")?;
        let ar = r.u16("ARCOUNT")?;
        // Counts are untrusted: never pre-allocate from them. Each entry takes at least 5 bytes, so a
        // lying count fails on `Truncated` long before memory grows.
        let mut questions = Vec::new();
        for _ in 0..qd {
            let name = r.name()?;
            let qtype = r.u16("QTYPE")?;
            let qclass = r.u16("QCLASS")?;
            questions.push(Question {
                name,
                qtype,
                qclass,
            });
        }
        let mut sections = [Vec::new(), Vec::new(), Vec::new()];
        for (section, n) in sections.iter_mut().zip([an, ns, ar]) {
            for _ in 0..n {
                section.push(r.record()?);
            }
        }
        let [answers, authorities, additionals] = sections;
        Ok(Message {
            header: Header { id, flags },
            questions,
            answers,
            authorities,
            additionals,
        })
    }
}

/// A cursor over untrusted bytes; every read is bounds-checked.
struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl Reader<'_> {
    fn take(&mut self, n: usize, what: &'static str) -> Result<&[u8], ParseError> {
        let end = self.pos.checked_add(n).ok_or(ParseError::Truncated {
            offset: self.pos,
            what,
        })?;
        let s = self.buf.get(self.pos..end).ok_or(ParseError::Truncated {
            offset: self.pos,
            what,
        })?;
        self.pos = end;
        Ok(s)
    }

    fn u16(&mut self, what: &'static str) -> Result<u16, ParseError> {
        let s = self.take(2, what)?;
        Ok(u16::from_be_bytes([
            s.first().copied().unwrap_or(0),
            s.get(1).copied().unwrap_or(0),
        ]))
    }

    fn u32(&mut self, what: &'static str) -> Result<u32, ParseError> {
        let hi = self.u16(what)?;
        let lo = self.u16(what)?;
        Ok((u32::from(hi) << 16) | u32::from(lo))
    }

    fn record(&mut self) -> Result<Record, ParseError> {
        let name = self.name()?;
        let rtype = self.u16("TYPE")?;
        let rclass = self.u16("CLASS")?;
        let ttl = self.u32("TTL")?;
        let len = self.u16("RDLENGTH")?;
        let rdata = self.take(usize::from(len), "RDATA")?.to_vec();
        Ok(Record {
            name,
            rtype,
            rclass,
            ttl,
            rdata,
        })
    }

    /// Reads a possibly compressed name (RFC 1035 section 4.1.4). The cursor ends after the name's
    /// first pointer or terminating zero; pointers must point strictly before the label that holds them,
    /// which bounds the walk by the message length.
    fn name(&mut self) -> Result<Name, ParseError> {
        let mut labels = Vec::new();
        let mut wire_len = 1usize;
        let mut at = self.pos;
        // Where the cursor continues once the name is read: after the first pointer, if any.
        let mut resume: Option<usize> = None;
        // Every pointer must go below this; it only ever decreases.
        let mut limit = self.pos;
        loop {
            let byte = *self.buf.get(at).ok_or(ParseError::Truncated {
                offset: at,
                what: "name",
            })?;
            match byte & 0xc0 {
                0x00 if byte == 0 => {
                    at += 1;
                    break;
                }
                0x00 => {
                    let len = usize::from(byte);
                    let label =
                        self.buf
                            .get(at + 1..at + 1 + len)
                            .ok_or(ParseError::Truncated {
                                offset: at,
                                what: "label",
                            })?;
                    wire_len += 1 + len;
                    if wire_len > NAME_MAX {
                        return Err(ParseError::NameTooLong { offset: at });
                    }
                    labels.push(label.to_vec());
                    at += 1 + len;
                }
                0xc0 => {
                    let low = *self.buf.get(at + 1).ok_or(ParseError::Truncated {
                        offset: at,
                        what: "compression pointer",
                    })?;
                    let target = (usize::from(byte & 0x3f) << 8) | usize::from(low);
                    if target >= limit {
                        return Err(ParseError::BadPointer { offset: at, target });
                    }
                    if resume.is_none() {
                        resume = Some(at + 2);
                    }
                    limit = target;
                    at = target;
                }
                _ => return Err(ParseError::BadLabel { offset: at, byte }),
            }
        }
        self.pos = resume.unwrap_or(at);
        Ok(Name { labels })
    }
}

/// RR types a probe may ask for by mnemonic; `TYPE<n>` (RFC 3597) covers the rest.
const TYPES: &[(&str, u16)] = &[
    ("A", 1),
    ("NS", 2),
    ("CNAME", 5),
    ("SOA", 6),
    ("PTR", 12),
    ("MX", 15),
    ("TXT", 16),
    ("AAAA", 28),
    ("SRV", 33),
    ("NAPTR", 35),
    ("DS", 43),
    ("DNSKEY", 48),
    ("SVCB", 64),
    ("HTTPS", 65),
    ("ANY", 255),
    ("CAA", 257),
];

/// `dns.type` → QTYPE: a mnemonic (case-insensitive) or `TYPE<n>`.
pub fn parse_type(text: &str) -> Result<u16, String> {
    let t = text.trim();
    if let Some((_, v)) = TYPES.iter().find(|(n, _)| n.eq_ignore_ascii_case(t)) {
        return Ok(*v);
    }
    if let Some(n) = t
        .get(..4)
        .filter(|p| p.eq_ignore_ascii_case("TYPE"))
        .and_then(|_| t.get(4..))
        .and_then(|n| n.parse::<u16>().ok())
    {
        return Ok(n);
    }
    let known: Vec<&str> = TYPES.iter().map(|(n, _)| *n).collect();
    Err(format!(
        "dns.type {text:?} is not a record type (known: {}, or TYPE<n>)",
        known.join(", ")
    ))
}

/// QTYPE → mnemonic, `TYPE<n>` when unknown.
pub fn type_name(t: u16) -> String {
    TYPES
        .iter()
        .find(|(_, v)| *v == t)
        .map(|(n, _)| n.to_string())
        .unwrap_or_else(|| format!("TYPE{t}"))
}

/// RCODE → its IANA name, `RCODE<n>` when unassigned.
pub fn rcode_name(rcode: u8) -> String {
    match rcode {
        0 => "NOERROR",
        1 => "FORMERR",
        2 => "SERVFAIL",
        3 => "NXDOMAIN",
        4 => "NOTIMP",
        5 => "REFUSED",
        6 => "YXDOMAIN",
        7 => "YXRRSET",
        8 => "NXRRSET",
        9 => "NOTAUTH",
        10 => "NOTZONE",
        n => return format!("RCODE{n}"),
    }
    .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn q(name: &str, qtype: u16) -> Question {
        Question {
            name: Name::parse(name).unwrap(),
            qtype,
            qclass: CLASS_IN,
        }
    }

    #[test]
    fn encodes_a_query_like_rfc_1035() {
        let bytes = Message::query(0xbeef, q("example.com", 1))
            .encode()
            .unwrap();
        assert_eq!(
            bytes,
            [
                0xbe, 0xef, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0, 7, b'e', b'x', b'a', b'm', b'p',
                b'l', b'e', 3, b'c', b'o', b'm', 0, 0, 1, 0, 1
            ]
        );
    }

    #[test]
    fn parses_a_compressed_answer() {
        // Response to example.com A: answer name is a pointer to offset 12, RDATA 192.0.2.1.
        let mut bytes = vec![0x12, 0x34, 0x81, 0x80, 0, 1, 0, 1, 0, 0, 0, 0];
        bytes.extend_from_slice(&[
            7, b'e', b'x', b'a', b'm', b'p', b'l', b'e', 3, b'c', b'o', b'm', 0,
        ]);
        bytes.extend_from_slice(&[0, 1, 0, 1]);
        bytes.extend_from_slice(&[0xc0, 12, 0, 1, 0, 1, 0, 0, 0x0e, 0x10, 0, 4, 192, 0, 2, 1]);
        let m = Message::parse(&bytes).unwrap();
        assert_eq!(m.header.id, 0x1234);
        assert!(m.header.is_response());
        assert!(!m.header.truncated());
        assert_eq!(m.header.rcode(), 0);
        assert_eq!(m.questions, [q("EXAMPLE.com", 1)]);
        assert_eq!(m.answers.len(), 1);
        assert_eq!(m.answers[0].name, Name::parse("example.com.").unwrap());
        assert_eq!(m.answers[0].ttl, 3600);
        assert_eq!(m.answers[0].rdata, [192, 0, 2, 1]);
    }

    #[test]
    fn rejects_pointer_loops_and_forward_pointers() {
        let mut header = vec![0, 1, 0x81, 0x80, 0, 1, 0, 0, 0, 0, 0, 0];
        let mut self_loop = header.clone();
        self_loop.extend_from_slice(&[0xc0, 12, 0, 1, 0, 1]);
        assert!(matches!(
            Message::parse(&self_loop),
            Err(ParseError::BadPointer { .. })
        ));
        header.extend_from_slice(&[1, b'a', 0xc0, 12, 0, 1, 0, 1]);
        assert!(matches!(
            Message::parse(&header),
            Err(ParseError::BadPointer { .. })
        ));
    }

    #[test]
    fn lying_counts_are_truncation_errors() {
        let bytes = [0, 1, 0x81, 0x80, 0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0];
        assert!(matches!(
            Message::parse(&bytes),
            Err(ParseError::Truncated { .. })
        ));
        assert!(Message::parse(&[0; 11]).is_err());
    }

    #[test]
    fn names_respect_the_limits() {
        assert_eq!(Name::parse(".").unwrap(), Name::root());
        assert_eq!(
            Name::parse("Example.COM.").unwrap().to_string(),
            "Example.COM"
        );
        assert!(Name::parse("").is_err());
        assert!(Name::parse("a..b").is_err());
        assert!(Name::parse("a b").is_err());
        assert!(Name::parse(&"a".repeat(64)).is_err());
        let long = vec!["a".repeat(63); 4].join(".");
        assert!(Name::parse(&long).is_err(), "4*64+1 > 255");
        let fits = [
            "a".repeat(63),
            "a".repeat(63),
            "a".repeat(63),
            "a".repeat(61),
        ]
        .join(".");
        assert!(Name::parse(&fits).is_ok());
    }

    #[test]
    fn types_and_rcodes_have_names() {
        assert_eq!(parse_type("a"), Ok(1));
        assert_eq!(parse_type("AAAA"), Ok(28));
        assert_eq!(parse_type("txt"), Ok(16));
        assert_eq!(parse_type("TYPE65534"), Ok(65534));
        assert!(parse_type("BOGUS").is_err());
        assert!(parse_type("TYPE").is_err());
        assert!(parse_type("TYPE99999").is_err());
        assert_eq!(type_name(28), "AAAA");
        assert_eq!(type_name(999), "TYPE999");
        assert_eq!(rcode_name(3), "NXDOMAIN");
        assert_eq!(rcode_name(15), "RCODE15");
    }

    fn arb_name() -> impl Strategy<Value = Name> {
        proptest::collection::vec(proptest::collection::vec(any::<u8>(), 1..=20), 0..6)
            .prop_map(|labels| Name::from_labels(labels).unwrap())
    }

    fn arb_question() -> impl Strategy<Value = Question> {
        (arb_name(), any::<u16>(), any::<u16>()).prop_map(|(name, qtype, qclass)| Question {
            name,
            qtype,
            qclass,
        })
    }

    fn arb_record() -> impl Strategy<Value = Record> {
        (
            arb_name(),
            any::<u16>(),
            any::<u16>(),
            any::<u32>(),
            proptest::collection::vec(any::<u8>(), 0..40),
        )
            .prop_map(|(name, rtype, rclass, ttl, rdata)| Record {
                name,
                rtype,
                rclass,
                ttl,
                rdata,
            })
    }

    fn arb_message() -> impl Strategy<Value = Message> {
        (
            any::<u16>(),
            any::<u16>(),
            proptest::collection::vec(arb_question(), 0..3),
            proptest::collection::vec(arb_record(), 0..3),
            proptest::collection::vec(arb_record(), 0..2),
            proptest::collection::vec(arb_record(), 0..2),
        )
            .prop_map(
                |(id, flags, questions, answers, authorities, additionals)| Message {
                    header: Header { id, flags },
                    questions,
                    answers,
                    authorities,
                    additionals,
                },
            )
    }

    proptest! {
        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..600)) {
            let _ = Message::parse(&bytes);
        }

        /// Header-shaped prefixes with small counts reach the name and record parsers more often than
        /// uniformly random bytes do.
        #[test]
        fn plausible_messages_never_panic(
            id in any::<u16>(),
            counts in proptest::collection::vec(0u8..4, 4),
            body in proptest::collection::vec(
                prop_oneof![any::<u8>(), 0u8..16, Just(0xc0u8), Just(12u8), Just(0u8)], 0..300),
        ) {
            let mut bytes = id.to_be_bytes().to_vec();
            bytes.extend_from_slice(&[0x81, 0x80]);
            for c in counts {
                bytes.extend_from_slice(&[0, c]);
            }
            bytes.extend_from_slice(&body);
            if let Ok(m) = Message::parse(&bytes) {
                // What parses re-encodes, and the re-encoding parses to the same message.
                let again = Message::parse(&m.encode().unwrap()).unwrap();
                prop_assert_eq!(again, m);
            }
        }

        #[test]
        fn encode_then_parse_round_trips(m in arb_message()) {
            let bytes = m.encode().unwrap();
            let back = Message::parse(&bytes).unwrap();
            prop_assert_eq!(&back, &m);
            prop_assert_eq!(back.header.rcode(), m.header.rcode());
            prop_assert_eq!(back.header.truncated(), m.header.truncated());
        }

        #[test]
        fn query_header_and_question_round_trip(id in any::<u16>(), q in arb_question()) {
            let bytes = Message::query(id, q.clone()).encode().unwrap();
            let back = Message::parse(&bytes).unwrap();
            prop_assert_eq!(back.header, Header::query(id));
            prop_assert!(!back.header.is_response());
            prop_assert_eq!(back.header.opcode(), 0);
            prop_assert_eq!(back.questions, vec![q]);
        }

        #[test]
        fn name_text_round_trips(labels in proptest::collection::vec("[a-zA-Z0-9-]{1,20}", 1..5)) {
            let text = labels.join(".");
            let n = Name::parse(&text).unwrap();
            prop_assert_eq!(n.to_string(), text);
        }
    }
}
