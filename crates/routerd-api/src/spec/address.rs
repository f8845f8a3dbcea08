use super::validate::{Checker, Reference};
use crate::kind::Kind;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use std::net::Ipv6Addr;

/// A static IPv4 address on an `Interface`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct IPv4StaticAddressSpec {
    /// Name of the `Interface` resource.
    pub interface: String,
    /// Address with prefix length, e.g. `192.168.1.1/24`.
    pub address: String,
}

impl IPv4StaticAddressSpec {
    pub(crate) fn validate(&self, c: &mut Checker) {
        c.ipv4_cidr("address", &self.address);
    }
    pub(crate) fn references(&self) -> Vec<Reference> {
        vec![Reference::new(
            "spec.interface",
            Kind::Interface,
            &self.interface,
        )]
    }
}

/// A LAN address carved from a delegated prefix.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct IPv6DelegatedAddressSpec {
    /// Name of the `DHCPv6PrefixDelegation` resource.
    pub prefix_delegation: String,
    /// Name of the `Interface` resource (the LAN side).
    pub interface: String,
    /// Subnet ID in hex within the delegated prefix (default `0`). Spelled `subnetID` like
    /// `resources.md` (camelCase alone would make it `subnetId`).
    #[serde(default, rename = "subnetID", skip_serializing_if = "Option::is_none")]
    pub subnet_id: Option<String>,
    /// Prefix length of the LAN subnet (default 64).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prefix_length: Option<u8>,
    /// Interface identifier part (default `::1`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub address_suffix: Option<String>,
}

impl IPv6DelegatedAddressSpec {
    pub(crate) fn validate(&self, c: &mut Checker) {
        // The same parse the controller carves with, so an accepted spec never fails there for a
        // reason the spec alone shows; only the fit into the delegated prefix waits for a prefix.
        if let Err(e) = Carving::from_spec(self) {
            c.error(e.field, e.message);
        }
    }
    pub(crate) fn references(&self) -> Vec<Reference> {
        vec![
            Reference::new(
                "spec.prefixDelegation",
                Kind::DHCPv6PrefixDelegation,
                &self.prefix_delegation,
            ),
            Reference::new("spec.interface", Kind::Interface, &self.interface),
        ]
    }
}

/// `prefixLength` default (`resources.md`).
pub const DEFAULT_DELEGATED_PREFIX_LENGTH: u8 = 64;
/// `addressSuffix` default (`resources.md`).
pub const DEFAULT_DELEGATED_SUFFIX: Ipv6Addr = Ipv6Addr::new(0, 0, 0, 0, 0, 0, 0, 1);

/// Why a spec cannot be carved out of the delegated prefix; `field` is the spec field to change.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("spec.{field}: {message}")]
pub struct CarveError {
    pub field: &'static str,
    pub message: String,
}

impl CarveError {
    fn new(field: &'static str, message: impl Into<String>) -> CarveError {
        CarveError {
            field,
            message: message.into(),
        }
    }
}

/// A spec's carving parameters with the defaults applied.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Carving {
    pub subnet_id: u64,
    pub prefix_length: u8,
    pub suffix: Ipv6Addr,
}

/// The top `len` bits of an IPv6 address.
fn mask(len: u8) -> u128 {
    match len {
        0 => 0,
        l if l >= 128 => u128::MAX,
        l => u128::MAX << (128 - u32::from(l)),
    }
}

impl Carving {
    /// Parses the spec with the defaults applied; apply-time validation uses this too, so a spec that
    /// was accepted always parses.
    pub fn from_spec(spec: &IPv6DelegatedAddressSpec) -> Result<Carving, CarveError> {
        let subnet_id = match spec.subnet_id.as_deref() {
            None => 0,
            Some(hex) => u64::from_str_radix(hex, 16).map_err(|_| {
                CarveError::new(
                    "subnetID",
                    format!("{hex:?} is not a hex subnet ID (e.g. 0, 1, ff)"),
                )
            })?,
        };
        let prefix_length = spec
            .prefix_length
            .unwrap_or(DEFAULT_DELEGATED_PREFIX_LENGTH);
        if !(1..=128).contains(&prefix_length) {
            return Err(CarveError::new(
                "prefixLength",
                format!("{prefix_length} is out of range 1..=128"),
            ));
        }
        let suffix = match spec.address_suffix.as_deref() {
            None => DEFAULT_DELEGATED_SUFFIX,
            Some(s) => s.parse().map_err(|_| {
                CarveError::new(
                    "addressSuffix",
                    format!("{s:?} is not an IPv6 suffix (e.g. ::1)"),
                )
            })?,
        };
        let carving = Carving {
            subnet_id,
            prefix_length,
            suffix,
        };
        carving.check_suffix()?;
        Ok(carving)
    }

    /// The suffix must lie in the host bits, and `::` would make every address the subnet-router
    /// anycast address of its subnet. Both are known from the spec alone, before any prefix exists.
    fn check_suffix(&self) -> Result<(), CarveError> {
        let len = self.prefix_length;
        let suffix = u128::from(self.suffix);
        if suffix & mask(len) != 0 {
            return Err(CarveError::new(
                "addressSuffix",
                format!(
                    "{} sets bits inside the /{len} prefix; only the last {} bits are the suffix",
                    self.suffix,
                    128 - u32::from(len)
                ),
            ));
        }
        if suffix == 0 && len < 128 {
            return Err(CarveError::new(
                "addressSuffix",
                ":: would make the address the subnet-router anycast address of its subnet",
            ));
        }
        Ok(())
    }

    /// The address in `delegated/delegated_len`: the delegated prefix, then the subnet ID in the bits
    /// between the delegated length and `prefix_length`, then the suffix in the host bits. E.g.
    /// `2001:db8:1200:1240::/60`, subnet 1, /64, `::1` gives `2001:db8:1200:1241::1`.
    pub fn address_in(
        &self,
        delegated: Ipv6Addr,
        delegated_len: u8,
    ) -> Result<Ipv6Addr, CarveError> {
        let len = self.prefix_length;
        if delegated_len > 128 {
            return Err(CarveError::new(
                "prefixDelegation",
                format!("the delegated prefix length {delegated_len} exceeds 128"),
            ));
        }
        if len < delegated_len {
            return Err(CarveError::new(
                "prefixLength",
                format!(
                    "/{len} is shorter than the delegated /{delegated_len}: the subnet must lie inside the delegated prefix"
                ),
            ));
        }
        let bits = u32::from(len - delegated_len);
        let max = if bits >= 64 {
            u64::MAX
        } else {
            (1u64 << bits) - 1
        };
        if self.subnet_id > max {
            return Err(CarveError::new(
                "subnetID",
                format!(
                    "{:x} does not fit in the {bits} bits between the delegated /{delegated_len} and /{len} (at most {max:x})",
                    self.subnet_id
                ),
            ));
        }
        self.check_suffix()?;
        let suffix = u128::from(self.suffix);
        let network = u128::from(delegated) & mask(delegated_len);
        let subnet = if bits == 0 {
            0
        } else {
            u128::from(self.subnet_id) << (128 - u32::from(len))
        };
        Ok(Ipv6Addr::from(network | subnet | suffix))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> Ipv6Addr {
        s.parse().unwrap()
    }

    fn carve(
        prefix: &str,
        subnet: Option<&str>,
        len: Option<u8>,
        suffix: Option<&str>,
    ) -> Result<Ipv6Addr, CarveError> {
        let spec = IPv6DelegatedAddressSpec {
            prefix_delegation: "wan-pd".into(),
            interface: "lan".into(),
            subnet_id: subnet.map(Into::into),
            prefix_length: len,
            address_suffix: suffix.map(Into::into),
        };
        let (network, length) = match crate::spec::parse_ip_cidr(prefix).unwrap() {
            (std::net::IpAddr::V6(ip), len) => (ip, len),
            other => panic!("{other:?}"),
        };
        Carving::from_spec(&spec)?.address_in(network, length)
    }

    #[test]
    fn carving_arithmetic() {
        let p60 = "2001:db8:1200:1240::/60";
        // The example of the brief and resources.md, and the defaults (subnet 0, /64, ::1).
        assert_eq!(
            carve(p60, Some("1"), Some(64), Some("::1")),
            Ok(ip("2001:db8:1200:1241::1"))
        );
        assert_eq!(
            carve(p60, None, None, None),
            Ok(ip("2001:db8:1200:1240::1"))
        );
        assert_eq!(
            carve(p60, Some("f"), None, None),
            Ok(ip("2001:db8:1200:124f::1"))
        );
        // Host bits the server left in the prefix are not ours to keep.
        assert_eq!(
            carve("2001:db8:1200:1245::/60", Some("2"), None, None),
            Ok(ip("2001:db8:1200:1242::1"))
        );
        // A /56 into /64s and into /60s; a /48; a whole /64 delegated.
        assert_eq!(
            carve("2001:db8:1200:1200::/56", Some("ff"), None, Some("::abcd")),
            Ok(ip("2001:db8:1200:12ff::abcd"))
        );
        assert_eq!(
            carve("2001:db8:1200:1200::/56", Some("a"), Some(60), None),
            Ok(ip("2001:db8:1200:12a0::1"))
        );
        assert_eq!(
            carve("2001:db8:77::/48", Some("ffff"), None, None),
            Ok(ip("2001:db8:77:ffff::1"))
        );
        assert_eq!(
            carve("2001:db8:1:2::/64", None, None, Some("::1:2:3:4")),
            Ok(ip("2001:db8:1:2:1:2:3:4"))
        );
        // Odd lengths: the subnet ID straddles a 16-bit group.
        assert_eq!(
            carve("2001:db8:1200::/42", Some("3f"), Some(48), None),
            Ok(ip("2001:db8:123f::1"))
        );
        // /128: the suffix must be ::, the subnet ID fills the rest.
        assert_eq!(
            carve("2001:db8::/120", Some("7"), Some(128), Some("::")),
            Ok(ip("2001:db8::7"))
        );
        // A /0 "delegation" leaves 64 bits of subnet ID: the full u64 fits.
        assert_eq!(
            carve("::/0", Some("ffffffffffffffff"), None, None),
            Ok(ip("ffff:ffff:ffff:ffff::1"))
        );
    }

    #[test]
    fn carving_refusals_name_the_field() {
        let p60 = "2001:db8:1200:1240::/60";
        let err = carve(p60, Some("10"), None, None).unwrap_err();
        assert_eq!(err.field, "subnetID");
        assert!(err.to_string().starts_with("spec.subnetID: "), "{err}");
        assert!(err.message.contains("at most f"), "{err}");
        let err = carve("2001:db8:1:2::/64", Some("1"), None, None).unwrap_err();
        assert_eq!(err.field, "subnetID", "{err}");
        assert!(err.message.contains("0 bits"), "{err}");
        let err = carve(p60, None, Some(56), None).unwrap_err();
        assert_eq!(err.field, "prefixLength", "{err}");
        assert!(
            err.message.contains("shorter than the delegated /60"),
            "{err}"
        );
        let err = carve(p60, None, None, Some("::1:0:0:0:1")).unwrap_err();
        assert_eq!(err.field, "addressSuffix", "{err}");
        assert!(err.message.contains("inside the /64"), "{err}");
        let err = carve(p60, None, None, Some("::")).unwrap_err();
        assert_eq!(err.field, "addressSuffix", "{err}");
        assert!(err.message.contains("anycast"), "{err}");
        let err = carve("2001:db8::/120", None, Some(128), Some("::1")).unwrap_err();
        assert_eq!(err.field, "addressSuffix", "{err}");
        // What apply-time validation refuses is refused here too, never a panic.
        assert_eq!(
            carve(p60, Some("xyz"), None, None).unwrap_err().field,
            "subnetID"
        );
        assert_eq!(
            carve(p60, None, Some(0), None).unwrap_err().field,
            "prefixLength"
        );
        assert_eq!(
            carve(p60, None, Some(200), None).unwrap_err().field,
            "prefixLength"
        );
        assert_eq!(
            carve(p60, None, None, Some("nope")).unwrap_err().field,
            "addressSuffix"
        );
        assert_eq!(
            Carving {
                subnet_id: 0,
                prefix_length: 64,
                suffix: DEFAULT_DELEGATED_SUFFIX
            }
            .address_in(ip("2001:db8::"), 129)
            .unwrap_err()
            .field,
            "prefixDelegation"
        );
    }

    #[test]
    fn what_the_spec_alone_shows_is_refused_at_apply_time() {
        let spec = |suffix: &str, len: u8| IPv6DelegatedAddressSpec {
            prefix_delegation: "wan-pd".into(),
            interface: "lan".into(),
            subnet_id: None,
            prefix_length: Some(len),
            address_suffix: Some(suffix.into()),
        };
        let errors = |s: &IPv6DelegatedAddressSpec| {
            let mut c = Checker::default();
            s.validate(&mut c);
            c.errors
        };
        assert!(errors(&spec("::1", 64)).is_empty());
        let e = errors(&spec("::1:0:0:0:1", 64));
        assert_eq!(e.len(), 1, "{e:?}");
        assert_eq!(e[0].field, "spec.addressSuffix");
        assert!(e[0].message.contains("inside the /64"), "{e:?}");
        assert_eq!(errors(&spec("::", 64))[0].field, "spec.addressSuffix");
    }

    #[test]
    fn delegated_address_spells_subnet_id_as_documented() {
        let spec: IPv6DelegatedAddressSpec = serde_json::from_value(serde_json::json!({
            "prefixDelegation": "wan-pd", "interface": "lan", "subnetID": "1",
            "prefixLength": 64, "addressSuffix": "::1"
        }))
        .unwrap();
        assert_eq!(spec.subnet_id.as_deref(), Some("1"));
        let back = serde_json::to_value(&spec).unwrap();
        assert_eq!(back["subnetID"], "1");
        assert!(back.get("subnetId").is_none(), "{back}");
        // The camelCase spelling is an unknown field, not a silent alias.
        let wrong = serde_json::from_value::<IPv6DelegatedAddressSpec>(serde_json::json!({
            "prefixDelegation": "wan-pd", "interface": "lan", "subnetId": "1"
        }));
        assert!(wrong.is_err());
        let schema = serde_json::to_value(schemars::schema_for!(IPv6DelegatedAddressSpec)).unwrap();
        assert!(schema["properties"].get("subnetID").is_some(), "{schema}");
    }
}
