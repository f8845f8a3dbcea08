//! The few things the answer path reads from DNS wire bytes, walked in place without building a message:
//! the question of a query (its name lower-cased into a fixed buffer, type, class, EDNS), and where the
//! TTLs of a response are (so a cached answer is served by patching its ID and TTLs). Every read is
//! bounds-checked; anything that does not parse is an error, never a panic.

use std::fmt;

/// Size of a DNS header.
pub const HEADER_LEN: usize = 12;
/// The longest name on the wire (RFC 1035 §3.1).
pub const MAX_NAME: usize = 255;
/// What a client without EDNS can take over UDP (RFC 1035 §4.2.1).
pub const CLASSIC_UDP: usize = 512;
/// Record type of the EDNS OPT pseudo-record (RFC 6891).
pub const TYPE_OPT: u16 = 41;
/// Record type of SOA, whose MINIMUM bounds negative caching (RFC 2308 §5).
pub const TYPE_SOA: u16 = 6;
/// Compression pointers followed at most while skipping one name: a loop ends here.
const MAX_POINTERS: usize = 32;

/// Why bytes are not a query or response this resolver can use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WireError {
    /// Shorter than a header, or a response: not worth an answer.
    Ignore,
    /// Malformed (bad name, counts, lengths, several OPT records): answered FORMERR.
    FormErr,
    /// An opcode other than QUERY: answered NOTIMP.
    NotImp,
}

impl fmt::Display for WireError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            WireError::Ignore => "not a query",
            WireError::FormErr => "malformed query",
            WireError::NotImp => "opcode not implemented",
        })
    }
}

/// EDNS(0) as the client sent it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Edns {
    /// The client's UDP payload size (at least 512).
    pub udp_payload: u16,
    /// DNSSEC OK.
    pub dnssec_ok: bool,
}

/// The question of a query, read in place.
#[derive(Clone)]
pub struct Question {
    pub id: u16,
    pub recursion_desired: bool,
    pub checking_disabled: bool,
    /// End of the question section (header + name + type + class).
    pub question_end: usize,
    /// The name in wire form, lower-cased, in `name[..name_len]`.
    name: [u8; MAX_NAME],
    name_len: usize,
    pub qtype: u16,
    pub qclass: u16,
    pub edns: Option<Edns>,
}

impl fmt::Debug for Question {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Question")
            .field("id", &self.id)
            .field("name", &self.name_text())
            .field("qtype", &self.qtype)
            .field("qclass", &self.qclass)
            .field("edns", &self.edns)
            .finish()
    }
}

impl Question {
    /// The lower-cased name in wire form.
    pub fn name_wire(&self) -> &[u8] {
        &self.name[..self.name_len]
    }

    /// The name as text (`www.example.com.`), for logs and tests.
    pub fn name_text(&self) -> String {
        wire_name_text(self.name_wire())
    }

    /// Bytes a UDP answer may have: the client's EDNS payload size, else 512.
    pub fn udp_limit(&self) -> usize {
        self.edns
            .map_or(CLASSIC_UDP, |e| usize::from(e.udp_payload).max(CLASSIC_UDP))
    }

    /// The cache key: name, type, class, and what changes the answer's form (EDNS present, DO, CD).
    /// Written into `key`; returns its length.
    pub fn cache_key(&self, key: &mut [u8; MAX_NAME + 5]) -> usize {
        let n = self.name_len;
        key[..n].copy_from_slice(self.name_wire());
        key[n..n + 2].copy_from_slice(&self.qtype.to_be_bytes());
        key[n + 2..n + 4].copy_from_slice(&self.qclass.to_be_bytes());
        key[n + 4] = u8::from(self.edns.is_some())
            | (u8::from(self.edns.is_some_and(|e| e.dnssec_ok)) << 1)
            | (u8::from(self.checking_disabled) << 2);
        n + 5
    }
}

/// `3www7example3com0` → `www.example.com.`
pub fn wire_name_text(wire: &[u8]) -> String {
    let mut out = String::new();
    let mut i = 0;
    while let Some(&len) = wire.get(i) {
        if len == 0 {
            break;
        }
        let label = wire
            .get(i + 1..i + 1 + usize::from(len))
            .unwrap_or_default();
        out.push_str(&String::from_utf8_lossy(label));
        out.push('.');
        i += 1 + usize::from(len);
    }
    if out.is_empty() {
        out.push('.');
    }
    out
}

fn u16_at(buf: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_be_bytes([*buf.get(at)?, *buf.get(at + 1)?]))
}

fn u32_at(buf: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_be_bytes([
        *buf.get(at)?,
        *buf.get(at + 1)?,
        *buf.get(at + 2)?,
        *buf.get(at + 3)?,
    ]))
}

/// Skips the name at `at` (compression allowed, loops cut off); returns the offset after it.
pub fn skip_name(buf: &[u8], mut at: usize) -> Option<usize> {
    let mut end = None;
    let mut pointers = 0;
    let mut total = 0usize;
    loop {
        let len = *buf.get(at)?;
        match len & 0xC0 {
            0x00 => {
                if len == 0 {
                    return Some(end.unwrap_or(at + 1));
                }
                total += usize::from(len) + 1;
                if total > MAX_NAME {
                    return None;
                }
                at += usize::from(len) + 1;
            }
            0xC0 => {
                let target = usize::from(u16_at(buf, at)? & 0x3FFF);
                if end.is_none() {
                    end = Some(at + 2);
                }
                pointers += 1;
                if pointers > MAX_POINTERS {
                    return None;
                }
                at = target;
            }
            _ => return None,
        }
    }
}

/// Reads the question of a query. A query has exactly one question whose name is not compressed (no
/// client compresses its only name); answer/authority records are tolerated and skipped, an OPT in the
/// additional section gives the EDNS parameters, two OPTs are FORMERR (RFC 6891 §6.1.1).
pub fn parse_query(buf: &[u8]) -> Result<Question, WireError> {
    if buf.len() < HEADER_LEN {
        return Err(WireError::Ignore);
    }
    let flags = u16_at(buf, 2).ok_or(WireError::Ignore)?;
    if flags & 0x8000 != 0 {
        return Err(WireError::Ignore);
    }
    if (flags >> 11) & 0xF != 0 {
        return Err(WireError::NotImp);
    }
    let id = u16_at(buf, 0).ok_or(WireError::Ignore)?;
    let count = |at| u16_at(buf, at).ok_or(WireError::FormErr);
    if count(4)? != 1 {
        return Err(WireError::FormErr);
    }
    let mut q = Question {
        id,
        recursion_desired: flags & 0x0100 != 0,
        checking_disabled: flags & 0x0010 != 0,
        question_end: 0,
        name: [0; MAX_NAME],
        name_len: 0,
        qtype: 0,
        qclass: 0,
        edns: None,
    };
    let mut at = HEADER_LEN;
    loop {
        let len = usize::from(*buf.get(at).ok_or(WireError::FormErr)?);
        if len & 0xC0 != 0 {
            return Err(WireError::FormErr);
        }
        if q.name_len + len + 1 > MAX_NAME {
            return Err(WireError::FormErr);
        }
        let label = buf.get(at..at + len + 1).ok_or(WireError::FormErr)?;
        for (i, b) in label.iter().enumerate() {
            q.name[q.name_len + i] = if i == 0 { *b } else { b.to_ascii_lowercase() };
        }
        q.name_len += len + 1;
        at += len + 1;
        if len == 0 {
            break;
        }
    }
    q.qtype = u16_at(buf, at).ok_or(WireError::FormErr)?;
    q.qclass = u16_at(buf, at + 2).ok_or(WireError::FormErr)?;
    at += 4;
    q.question_end = at;
    let records = usize::from(count(6)?) + usize::from(count(8)?);
    let additional = usize::from(count(10)?);
    for i in 0..records + additional {
        at = skip_name(buf, at).ok_or(WireError::FormErr)?;
        let rtype = u16_at(buf, at).ok_or(WireError::FormErr)?;
        let rdlen = usize::from(u16_at(buf, at + 8).ok_or(WireError::FormErr)?);
        if i >= records && rtype == TYPE_OPT {
            if q.edns.is_some() {
                return Err(WireError::FormErr);
            }
            let class = u16_at(buf, at + 2).ok_or(WireError::FormErr)?;
            let ttl = u32_at(buf, at + 4).ok_or(WireError::FormErr)?;
            q.edns = Some(Edns {
                udp_payload: class.max(CLASSIC_UDP as u16),
                dnssec_ok: ttl & 0x8000 != 0,
            });
        }
        at += 10 + rdlen;
        if at > buf.len() {
            return Err(WireError::FormErr);
        }
    }
    Ok(q)
}

/// An error answer to `query` (FORMERR, NOTIMP, SERVFAIL, REFUSED): its header with QR set and `rcode`,
/// and its question when it has a readable one. Written into `out`.
pub fn error_response(query: &[u8], question: Option<&Question>, rcode: u8, out: &mut Vec<u8>) {
    out.clear();
    let Some(header) = query.get(..HEADER_LEN) else {
        return;
    };
    out.extend_from_slice(header);
    out[2] = (out[2] & 0x79) | 0x80; // QR, keep opcode and RD
    out[3] = 0x80 | (rcode & 0x0F); // RA
    out[4..12].fill(0);
    if let Some(q) = question {
        if let Some(section) = query.get(HEADER_LEN..q.question_end) {
            out.extend_from_slice(section);
            out[5] = 1;
        }
    }
}

/// Where a response's TTLs are and for how long it may be cached.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResponseScan {
    pub rcode: u8,
    pub truncated: bool,
    pub answers: u16,
    /// Offset and value of every TTL except OPT's (which holds flags, not a TTL).
    pub ttls: Vec<(usize, u32)>,
    /// Smallest TTL of all records (None without records).
    pub min_ttl: Option<u32>,
    /// For a negative answer: min(SOA TTL, SOA MINIMUM) of the SOA in the authority section.
    pub negative_ttl: Option<u32>,
    /// End of the question section.
    pub question_end: usize,
}

/// Walks a response. `None` when it is not a well-formed response with one question.
pub fn scan_response(buf: &[u8]) -> Option<ResponseScan> {
    if buf.len() < HEADER_LEN || buf[2] & 0x80 == 0 {
        return None;
    }
    if u16_at(buf, 4)? != 1 {
        return None;
    }
    let answers = u16_at(buf, 6)?;
    let authority = u16_at(buf, 8)?;
    let additional = u16_at(buf, 10)?;
    let mut at = skip_name(buf, HEADER_LEN)? + 4;
    if at > buf.len() {
        return None;
    }
    let question_end = at;
    let mut scan = ResponseScan {
        rcode: buf[3] & 0x0F,
        truncated: buf[2] & 0x02 != 0,
        answers,
        ttls: Vec::new(),
        min_ttl: None,
        negative_ttl: None,
        question_end,
    };
    let total = usize::from(answers) + usize::from(authority) + usize::from(additional);
    for i in 0..total {
        at = skip_name(buf, at)?;
        let rtype = u16_at(buf, at)?;
        let ttl = u32_at(buf, at + 4)?;
        let rdlen = usize::from(u16_at(buf, at + 8)?);
        let rdata = at + 10;
        if rdata + rdlen > buf.len() {
            return None;
        }
        if rtype != TYPE_OPT {
            // RFC 2181 §8: a TTL with the top bit set is treated as zero.
            let ttl = if ttl & 0x8000_0000 != 0 { 0 } else { ttl };
            scan.ttls.push((at + 4, ttl));
            scan.min_ttl = Some(scan.min_ttl.map_or(ttl, |m| m.min(ttl)));
            let in_authority =
                i >= usize::from(answers) && i < usize::from(answers) + usize::from(authority);
            if in_authority && rtype == TYPE_SOA && rdlen >= 20 {
                let minimum = u32_at(buf, rdata + rdlen - 4)?;
                scan.negative_ttl = Some(ttl.min(minimum));
            }
        }
        at = rdata + rdlen;
    }
    Some(scan)
}

/// Whether `response` answers `question` (same ID is checked by the caller): QR set and the same
/// question, compared case-insensitively.
pub fn answers_question(response: &[u8], query: &[u8], question: &Question) -> bool {
    let (Some(a), Some(b)) = (
        response.get(HEADER_LEN..question.question_end),
        query.get(HEADER_LEN..question.question_end),
    ) else {
        return false;
    };
    response.len() >= HEADER_LEN && response[2] & 0x80 != 0 && a.eq_ignore_ascii_case(b)
}

/// A truncated answer for a client whose UDP limit the full answer exceeds: the header with TC set and
/// the question, no records (RFC 1035 §4.2.1; the client retries over TCP).
pub fn truncated_response(full: &[u8], question_end: usize, out: &mut Vec<u8>) {
    out.clear();
    let Some(head) = full.get(..question_end) else {
        return;
    };
    out.extend_from_slice(head);
    out[2] |= 0x02;
    out[6..12].fill(0);
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(crate) fn query(name: &str, qtype: u16, edns: bool) -> Vec<u8> {
        let mut q = vec![0x12, 0x34, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, u8::from(edns)];
        for label in name
            .trim_end_matches('.')
            .split('.')
            .filter(|l| !l.is_empty())
        {
            q.push(label.len() as u8);
            q.extend_from_slice(label.as_bytes());
        }
        q.push(0);
        q.extend_from_slice(&qtype.to_be_bytes());
        q.extend_from_slice(&1u16.to_be_bytes());
        if edns {
            q.extend_from_slice(&[0, 0, 41, 0x04, 0xD0, 0, 0, 0x80, 0, 0, 0]);
        }
        q
    }

    #[test]
    fn a_query_is_read_in_place() {
        let q = parse_query(&query("WWW.Example.com", 1, true)).unwrap();
        assert_eq!(q.id, 0x1234);
        assert!(q.recursion_desired);
        assert_eq!(q.name_text(), "www.example.com.");
        assert_eq!(q.qtype, 1);
        assert_eq!(
            q.edns,
            Some(Edns {
                udp_payload: 1232,
                dnssec_ok: true
            })
        );
        assert_eq!(q.udp_limit(), 1232);
        let root = parse_query(&query(".", 2, false)).unwrap();
        assert_eq!(root.name_text(), ".");
        assert_eq!(root.udp_limit(), 512);
    }

    #[test]
    fn malformed_queries_are_refused() {
        assert_eq!(parse_query(&[0; 5]).unwrap_err(), WireError::Ignore);
        let mut fifty = query("a.example", 1, false);
        fifty[5] = 50;
        assert_eq!(parse_query(&fifty).unwrap_err(), WireError::FormErr);
        let mut response = query("a.example", 1, false);
        response[2] |= 0x80;
        assert_eq!(parse_query(&response).unwrap_err(), WireError::Ignore);
        let mut update = query("a.example", 1, false);
        update[2] = 5 << 3;
        assert_eq!(parse_query(&update).unwrap_err(), WireError::NotImp);
        // A compression pointer to itself in the question.
        let looped = vec![0, 1, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0xC0, 12, 0, 1, 0, 1];
        assert_eq!(parse_query(&looped).unwrap_err(), WireError::FormErr);
        let mut cut = query("a.example", 1, true);
        cut.pop();
        assert_eq!(parse_query(&cut).unwrap_err(), WireError::FormErr);
        let mut two_opts = query("a.example", 1, true);
        two_opts[11] = 2;
        two_opts.extend_from_slice(&[0, 0, 41, 0x04, 0xD0, 0, 0, 0, 0, 0, 0]);
        assert_eq!(parse_query(&two_opts).unwrap_err(), WireError::FormErr);
    }

    #[test]
    fn a_pointer_loop_in_a_record_ends() {
        let buf = [0xC0, 0x00];
        assert_eq!(skip_name(&buf, 0), None);
    }

    #[test]
    fn error_answers_keep_the_question() {
        let raw = query("a.example", 1, false);
        let q = parse_query(&raw).unwrap();
        let mut out = Vec::new();
        error_response(&raw, Some(&q), 2, &mut out);
        assert_eq!(out[3] & 0x0F, 2);
        assert_eq!(out[2] & 0x80, 0x80);
        assert_eq!(&out[4..6], &[0, 1]);
        assert_eq!(out.len(), q.question_end);
    }
}
