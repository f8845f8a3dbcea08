//! Whole-set validation: duplicates within a request and references between resources.

use super::desired::DesiredState;
use routerd_api::spec::{parse_ipv4_cidr, ResourceSpec};
use routerd_api::{FieldError, Kind, Resource, ResourceId};
use std::collections::HashSet;
use std::net::Ipv4Addr;

/// The same identity given twice in one request is an error, not "last one wins".
pub fn check_duplicates(resources: &[Resource]) -> Vec<FieldError> {
    let mut seen = HashSet::new();
    let mut errors = Vec::new();
    for (i, r) in resources.iter().enumerate() {
        if !seen.insert(r.id()) {
            errors.push(
                FieldError::new(
                    "metadata.name",
                    format!(
                        "duplicate identity {} (resources[{i}]); each Kind/name may appear once",
                        r.id()
                    ),
                )
                .in_resource(r.id().short()),
            );
        }
    }
    errors
}

/// Every reference must name a resource present in the resulting desired set.
pub fn check_references(state: &DesiredState) -> Vec<FieldError> {
    let mut errors = Vec::new();
    for r in state.resources.values() {
        for reference in r.spec.references() {
            let found = reference
                .kinds
                .iter()
                .any(|k| state.get(*k, &reference.name).is_some());
            if !found {
                let kinds = reference
                    .kinds
                    .iter()
                    .map(|k| k.as_str())
                    .collect::<Vec<_>>()
                    .join(" or ");
                let known: Vec<&str> = reference
                    .kinds
                    .iter()
                    .flat_map(|k| state.of_kind(*k).map(|r| r.name()))
                    .collect();
                let known = if known.is_empty() {
                    "none defined".to_string()
                } else {
                    format!("known: {}", known.join(", "))
                };
                errors.push(
                    FieldError::new(
                        reference.field.clone(),
                        format!("no {kinds} named {:?} ({known})", reference.name),
                    )
                    .in_resource(r.id().short()),
                );
            }
        }
    }
    errors
}

/// Resources in `state` that refer to `target`.
pub fn referrers(state: &DesiredState, target: &ResourceId) -> Vec<ResourceId> {
    state
        .resources
        .values()
        .filter(|r| r.id() != *target)
        .filter(|r| {
            r.spec
                .references()
                .iter()
                .any(|rf| rf.name == target.name && rf.kinds.contains(&target.kind))
        })
        .map(|r| r.id())
        .collect()
}

/// `DHCPv4Server` pools: inside the subnet of an `IPv4StaticAddress` on the server's interface, and not
/// overlapping another server's pool. Checked at apply so a bad pool never reaches a daemon.
pub fn check_dhcp_pools(state: &DesiredState) -> Vec<FieldError> {
    let mut errors = Vec::new();
    let mut pools: Vec<(String, u32, u32)> = Vec::new();
    for r in state.of_kind(Kind::DHCPv4Server) {
        let ResourceSpec::DHCPv4Server(spec) = &r.spec else {
            continue;
        };
        let (Ok(start), Ok(end)) = (
            spec.pool.start.parse::<Ipv4Addr>(),
            spec.pool.end.parse::<Ipv4Addr>(),
        ) else {
            continue; // the spec's own checks named the field
        };
        let subnets: Vec<(Ipv4Addr, u8)> = state
            .of_kind(Kind::IPv4StaticAddress)
            .filter_map(|a| match &a.spec {
                ResourceSpec::IPv4StaticAddress(s) if s.interface == spec.interface => {
                    parse_ipv4_cidr(&s.address).ok()
                }
                _ => None,
            })
            .collect();
        let inside = |a: Ipv4Addr| {
            subnets.iter().any(|(net, len)| {
                let m = if *len == 0 {
                    0
                } else {
                    u32::MAX << (32 - u32::from(*len))
                };
                u32::from(*net) & m == u32::from(a) & m
            })
        };
        let held = if subnets.is_empty() {
            "none".to_string()
        } else {
            subnets
                .iter()
                .map(|(a, l)| format!("{a}/{l}"))
                .collect::<Vec<_>>()
                .join(", ")
        };
        for (field, a) in [("spec.pool.start", start), ("spec.pool.end", end)] {
            if !inside(a) {
                errors.push(
                    FieldError::new(
                        field,
                        format!(
                            "{a} is outside the subnets of the IPv4StaticAddress resources on interface {:?} ({held}); \
                             put the pool inside one of them",
                            spec.interface
                        ),
                    )
                    .in_resource(r.id().short()),
                );
            }
        }
        let (s, e) = (u32::from(start), u32::from(end));
        for (other, os, oe) in &pools {
            if s <= *oe && *os <= e {
                errors.push(
                    FieldError::new(
                        "spec.pool",
                        format!(
                            "{start}-{end} overlaps the pool of DHCPv4Server {other:?} ({}-{}); pools must not share addresses",
                            Ipv4Addr::from(*os),
                            Ipv4Addr::from(*oe)
                        ),
                    )
                    .in_resource(r.id().short()),
                );
            }
        }
        pools.push((r.name().to_string(), s, e));
    }
    errors
}
