//! Resource references as people type them: `addr/lan`, `IPv4StaticAddress lan`, `ROUTE/default`. The
//! kind is normalised to its exact spelling here, so the server only ever sees `Kind/name`.

use routerd_api::kind::KINDS;
use routerd_api::name::validate_name;
use routerd_api::{Kind, ResourceId};

/// A resolved kind, or a message that lists what would have been accepted.
pub fn parse_kind(s: &str) -> Result<Kind, String> {
    Kind::lookup(s).ok_or_else(|| format!("unknown kind {s:?}; known kinds: {}", known_kinds()))
}

/// `Kind/name` with a forgiving kind; used for `--resource` and single targets.
pub fn parse_ref(s: &str) -> Result<ResourceId, String> {
    let Some((kind, name)) = s.split_once('/') else {
        return Err(format!(
            "{s:?} is not Kind/name (e.g. IPv4StaticAddress/lan or addr/lan)"
        ));
    };
    let kind = parse_kind(kind)?;
    validate_name(name).map_err(|e| format!("{s:?}: {e}"))?;
    Ok(ResourceId::new(kind, name))
}

/// Arguments of `describe` and `delete`: either every argument is `Kind/name`, or the first is a kind and
/// the rest are names of that kind (`delete addr lan wan`), as kubectl users expect.
pub fn parse_targets(args: &[String]) -> Result<Vec<ResourceId>, String> {
    let Some(first) = args.first() else {
        return Err("name at least one resource as Kind/name (e.g. addr/lan)".to_string());
    };
    if first.contains('/') {
        return args.iter().map(|a| parse_ref(a)).collect();
    }
    let kind = parse_kind(first)?;
    let names = &args[1..];
    if names.is_empty() {
        return Err(format!(
            "{first:?} names a kind; add a name: {first}/NAME or {first} NAME"
        ));
    }
    names
        .iter()
        .map(|n| {
            if n.contains('/') {
                return Err(format!(
                    "{n:?}: after the kind {first:?} give plain names, or give every target as Kind/name"
                ));
            }
            validate_name(n).map_err(|e| format!("{n:?}: {e}"))?;
            Ok(ResourceId::new(kind, n))
        })
        .collect()
}

/// Every kind with its short names, for error messages that teach the vocabulary.
pub fn known_kinds() -> String {
    KINDS
        .iter()
        .map(|k| {
            if k.short_names.is_empty() {
                k.name.to_string()
            } else {
                format!("{} ({})", k.name, k.short_names.join(", "))
            }
        })
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strings(args: &[&str]) -> Vec<String> {
        args.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn kind_lookup_is_case_insensitive_with_aliases() {
        assert_eq!(parse_kind("addr"), Ok(Kind::IPv4StaticAddress));
        assert_eq!(parse_kind("IPV4STATICADDRESS"), Ok(Kind::IPv4StaticAddress));
        assert_eq!(parse_kind("interfaces"), Ok(Kind::Interface));
        let err = parse_kind("bogus").unwrap_err();
        assert!(err.contains("IPv4StaticAddress (addr"), "{err}");
    }

    #[test]
    fn refs_normalise_the_kind() {
        let id = parse_ref("addr/lan").unwrap();
        assert_eq!(id.short(), "IPv4StaticAddress/lan");
        assert!(parse_ref("lan").unwrap_err().contains("not Kind/name"));
        assert!(parse_ref("addr/LAN").unwrap_err().contains("lower-case"));
        assert!(parse_ref("nokind/lan")
            .unwrap_err()
            .contains("unknown kind"));
    }

    #[test]
    fn targets_accept_slash_form_and_kind_then_names() {
        let ids = parse_targets(&strings(&["addr/lan", "route/default"])).unwrap();
        let shorts: Vec<String> = ids.iter().map(ResourceId::short).collect();
        assert_eq!(shorts, ["IPv4StaticAddress/lan", "IPv4StaticRoute/default"]);

        let ids = parse_targets(&strings(&["hc", "internet", "internet6"])).unwrap();
        let shorts: Vec<String> = ids.iter().map(ResourceId::short).collect();
        assert_eq!(shorts, ["HealthCheck/internet", "HealthCheck/internet6"]);
    }

    #[test]
    fn targets_refuse_ambiguous_or_incomplete_input() {
        assert!(parse_targets(&[]).is_err());
        assert!(parse_targets(&strings(&["addr"]))
            .unwrap_err()
            .contains("add a name"));
        assert!(parse_targets(&strings(&["addr", "route/x"])).is_err());
        assert!(parse_targets(&strings(&["addr/lan", "wan"])).is_err());
        assert!(parse_targets(&strings(&["addr", "Bad_Name"])).is_err());
    }
}
