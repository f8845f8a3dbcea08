//! Resource names are DNS labels so they are always safe in paths, socket names and file names.

/// Longest name accepted (RFC 1035 label length).
pub const MAX_NAME_LEN: usize = 63;

/// Checks `[a-z0-9]([-a-z0-9]*[a-z0-9])?`, at most 63 characters; the error says what to change.
pub fn validate_name(name: &str) -> Result<(), String> {
    if name.is_empty() {
        return Err("name is empty; use a DNS label such as \"wan\" or \"lan-1\"".to_string());
    }
    if name.len() > MAX_NAME_LEN {
        return Err(format!(
            "name is {} characters long; at most {MAX_NAME_LEN} are allowed",
            name.len()
        ));
    }
    if let Some(c) = name
        .chars()
        .find(|c| !(c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '-'))
    {
        return Err(format!(
            "name {name:?} contains {c:?}; only lower-case letters, digits and '-' are allowed"
        ));
    }
    if name.starts_with('-') || name.ends_with('-') {
        return Err(format!(
            "name {name:?} must start and end with a letter or digit"
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_labels_and_refuses_the_rest() {
        for ok in ["wan", "lan-1", "a", "0", &"a".repeat(63)] {
            assert!(validate_name(ok).is_ok(), "{ok}");
        }
        for bad in [
            "",
            "../x",
            "Wan",
            "-a",
            "a-",
            "a_b",
            "a.b",
            &"a".repeat(64),
            "ä",
        ] {
            assert!(validate_name(bad).is_err(), "{bad}");
        }
    }
}
