//! Controllers and the runtime that schedules them. A controller owns only its decision (observe the
//! host, compare with the desired state, act, write status); the runtime owns triggers, scheduling,
//! retries and the bookkeeping shown in `/controllers`.

pub mod address;
pub mod daemon_status;
pub mod delegated_address;
pub mod dhcpv4;
pub mod dhcpv4_server;
pub mod dns_resolver;
pub mod egress;
pub mod firewall;
pub mod firewall_render;
pub mod healthcheck;
pub mod interface;
pub mod ownership;
pub mod pppoe;
pub mod prefix_delegation;
pub mod retention;
pub mod route;
pub mod router_advertisement;
pub mod runtime;
pub mod status_book;

pub use runtime::{Action, Context, Controller, ControllerRuntime, ReconcileError};
pub use status_book::StatusBook;

use std::sync::Arc;

/// The controllers this build runs, in a stable order. `retention` shares the policy with the
/// background retention task.
pub fn builtin(
    retention: Arc<std::sync::RwLock<routerd_store::RetentionPolicy>>,
) -> Vec<Arc<dyn Controller>> {
    vec![
        Arc::new(interface::InterfaceController),
        Arc::new(address::AddressController),
        Arc::new(route::RouteController),
        Arc::new(healthcheck::HealthCheckController),
        Arc::new(dhcpv4::DHCPv4ClientController),
        Arc::new(delegated_address::DelegatedAddressController),
        Arc::new(prefix_delegation::PrefixDelegationController),
        Arc::new(pppoe::PPPoESessionController::default()),
        Arc::new(dns_resolver::DNSResolverController),
        Arc::new(retention::RetentionController { policy: retention }),
        Arc::new(egress::EgressController::new(Arc::new(
            routerd_host::KernelConntrack,
        ))),
        Arc::new(router_advertisement::RouterAdvertisementController),
        Arc::new(dhcpv4_server::DHCPv4ServerController),
    ]
}
