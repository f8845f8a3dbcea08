//! What the daemon configures on the session's device itself (`pppoe-contract.md`): MTU and up, the
//! IPCP address with the peer as point-to-point destination (`ip addr add L peer P dev D`), and the
//! link-local `fe80::<interface identifier>/64` when IPv6CP opens. The default route is routerd's.
//!
//! routerd-host's `NetHost` has no point-to-point addresses (its addresses are subnets), so this talks
//! rtnetlink directly with the same pinned crate.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use futures::TryStreamExt;
use rtnetlink::packet_route::address::{AddressAttribute, AddressFlags, AddressMessage};
use rtnetlink::packet_route::link::{AfSpecInet6, AfSpecUnspec, In6AddrGenMode, LinkAttribute};
use rtnetlink::{Handle, LinkUnspec};

/// An rtnetlink connection for the device's configuration.
#[derive(Clone)]
pub struct DeviceHost {
    handle: Handle,
}

fn err(what: &str, e: impl std::fmt::Display) -> String {
    format!("{what}: {e}")
}

impl DeviceHost {
    /// Opens the connection (needs the tokio runtime).
    pub fn new() -> Result<Self, String> {
        let (connection, handle, _) =
            rtnetlink::new_connection().map_err(|e| err("open rtnetlink", e))?;
        tokio::spawn(connection);
        Ok(Self { handle })
    }

    /// The ifindex of `name`, if it exists.
    pub async fn index_of(&self, name: &str) -> Option<u32> {
        let mut links = self
            .handle
            .link()
            .get()
            .match_name(name.to_string())
            .execute();
        match links.try_next().await {
            Ok(Some(message)) => Some(message.header.index),
            _ => None,
        }
    }

    /// Renames link `index` to `name` (the kernel's `pppN` to the configured device name).
    pub async fn rename(&self, index: u32, name: &str) -> Result<(), String> {
        let mut message = LinkUnspec::new_with_index(index).build();
        message
            .attributes
            .push(LinkAttribute::IfName(name.to_string()));
        self.handle
            .link()
            .set(message)
            .execute()
            .await
            .map_err(|e| err(&format!("rename link {index} to {name}"), e))
    }

    /// Sets the MTU, turns off the kernel's own IPv6 link-local (address generation mode `none`: the
    /// session's link-local is `fe80::<IPv6CP identifier>`, RFC 5072 §4.1, and a second, kernel-made
    /// one would be a source address the peer never negotiated), and brings the device up.
    pub async fn up(&self, index: u32, mtu: u16) -> Result<(), String> {
        // Its own request, before the link goes up: the kernel makes its link-local on the way up.
        let mut mode = LinkUnspec::new_with_index(index).build();
        mode.attributes
            .push(LinkAttribute::AfSpecUnspec(vec![AfSpecUnspec::Inet6(
                vec![AfSpecInet6::AddrGenMode(In6AddrGenMode::None)],
            )]));
        // Not fatal: without IPv6 on the device there is no link-local to keep out.
        if let Err(e) = self.handle.link().set(mode).execute().await {
            tracing::warn!(error = %e, "cannot turn IPv6 address generation off on link {index}");
        }
        self.handle
            .link()
            .set(
                LinkUnspec::new_with_index(index)
                    .mtu(u32::from(mtu))
                    .up()
                    .build(),
            )
            .execute()
            .await
            .map_err(|e| err(&format!("set mtu {mtu} and up on link {index}"), e))
    }

    fn ipv4_message(&self, index: u32, local: Ipv4Addr, peer: Option<Ipv4Addr>) -> AddressMessage {
        let mut request = self.handle.address().add(index, IpAddr::V4(local), 32);
        let message = request.message_mut();
        if let Some(peer) = peer {
            for attribute in message.attributes.iter_mut() {
                if let AddressAttribute::Address(address) = attribute {
                    *address = IpAddr::V4(peer);
                }
            }
        }
        message.clone()
    }

    /// `ip addr replace <local>/32 peer <peer> dev <index>`.
    pub async fn add_ipv4(
        &self,
        index: u32,
        local: Ipv4Addr,
        peer: Option<Ipv4Addr>,
    ) -> Result<(), String> {
        let mut request = self
            .handle
            .address()
            .add(index, IpAddr::V4(local), 32)
            .replace();
        *request.message_mut() = self.ipv4_message(index, local, peer);
        request
            .execute()
            .await
            .map_err(|e| err(&format!("add {local} peer {peer:?}"), e))
    }

    /// Removes what [`DeviceHost::add_ipv4`] added (gone already is fine).
    pub async fn del_ipv4(
        &self,
        index: u32,
        local: Ipv4Addr,
        peer: Option<Ipv4Addr>,
    ) -> Result<(), String> {
        let message = self.ipv4_message(index, local, peer);
        match self.handle.address().del(message).execute().await {
            Ok(()) => Ok(()),
            Err(e) if e.to_string().contains("Cannot assign requested address") => Ok(()),
            Err(e) if e.to_string().contains("No such device") => Ok(()),
            Err(e) => Err(err(&format!("delete {local}"), e)),
        }
    }

    /// `fe80::<iid>/64`, without DAD: IPv6CP already made the identifiers unique on the link.
    pub async fn add_link_local(&self, index: u32, iid: [u8; 8]) -> Result<Ipv6Addr, String> {
        let mut octets = [0u8; 16];
        octets[0] = 0xfe;
        octets[1] = 0x80;
        octets[8..].copy_from_slice(&iid);
        let address = Ipv6Addr::from(octets);
        let mut request = self
            .handle
            .address()
            .add(index, IpAddr::V6(address), 64)
            .replace();
        request
            .message_mut()
            .attributes
            .push(AddressAttribute::Flags(AddressFlags::Nodad));
        request
            .execute()
            .await
            .map_err(|e| err(&format!("add {address}/64"), e))?;
        Ok(address)
    }
}
