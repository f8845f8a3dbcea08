//! The classic BPF program attached to the AF_PACKET socket: only IPv4 UDP datagrams to port 68 that
//! are not fragments reach the daemon, so it is not woken for the rest of the link's traffic.
//!
//! The program is plain data here (opcode, jump-if-true, jump-if-false, constant), tested with a small
//! interpreter; the daemon hands it to the kernel with `SO_ATTACH_FILTER`.

/// One instruction: `(code, jt, jf, k)` as in `struct sock_filter`.
pub type Instruction = (u16, u8, u8, u32);

// Opcodes (linux/filter.h).
const LD_H_ABS: u16 = 0x28;
const LD_B_ABS: u16 = 0x30;
const LD_H_IND: u16 = 0x48;
const LDX_B_MSH: u16 = 0xb1;
const JEQ_K: u16 = 0x15;
const JSET_K: u16 = 0x45;
const RET_K: u16 = 0x06;

/// Accept length (the whole frame).
const ACCEPT: u32 = 0x0004_0000;

/// For SOCK_RAW packet sockets (frames start with the Ethernet header).
pub const DHCP_CLIENT_FILTER: [Instruction; 11] = [
    (LD_H_ABS, 0, 0, 12),   // 0: ethertype
    (JEQ_K, 0, 8, 0x0800),  // 1: IPv4, else drop
    (LD_B_ABS, 0, 0, 23),   // 2: IP protocol
    (JEQ_K, 0, 6, 17),      // 3: UDP, else drop
    (LD_H_ABS, 0, 0, 20),   // 4: flags + fragment offset
    (JSET_K, 4, 0, 0x1fff), // 5: a fragment: drop
    (LDX_B_MSH, 0, 0, 14),  // 6: X = IP header length
    (LD_H_IND, 0, 0, 16),   // 7: UDP destination port (14 + X + 2)
    (JEQ_K, 0, 1, 68),      // 8: port 68, else drop
    (RET_K, 0, 0, ACCEPT),  // 9: accept
    (RET_K, 0, 0, 0),       // 10: drop
];

/// Runs a program over `packet` the way the kernel does (for the instructions used here); returns the
/// accepted length, 0 for a drop (also for out-of-bounds loads, as the kernel does).
pub fn run(program: &[Instruction], packet: &[u8]) -> u32 {
    let (mut a, mut x, mut pc) = (0u32, 0u32, 0usize);
    let load = |at: usize, n: usize| -> Option<u32> {
        let b = packet.get(at..at.checked_add(n)?)?;
        Some(b.iter().fold(0u32, |acc, &v| acc << 8 | u32::from(v)))
    };
    while let Some(&(code, jt, jf, k)) = program.get(pc) {
        pc += 1;
        match code {
            LD_H_ABS | LD_B_ABS => match load(k as usize, if code == LD_H_ABS { 2 } else { 1 }) {
                Some(v) => a = v,
                None => return 0,
            },
            LD_H_IND => match load((x as usize).saturating_add(k as usize), 2) {
                Some(v) => a = v,
                None => return 0,
            },
            LDX_B_MSH => match load(k as usize, 1) {
                Some(v) => x = (v & 0x0f) * 4,
                None => return 0,
            },
            JEQ_K => pc += usize::from(if a == k { jt } else { jf }),
            JSET_K => pc += usize::from(if a & k != 0 { jt } else { jf }),
            RET_K => return k,
            _ => return 0,
        }
    }
    0
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::frame::{udp_frame, BROADCAST_MAC};
    use std::net::Ipv4Addr;

    fn frame(dst_port: u16) -> Vec<u8> {
        udp_frame(
            [2, 0, 0, 0, 0, 9],
            BROADCAST_MAC,
            Ipv4Addr::new(192, 0, 2, 1),
            Ipv4Addr::BROADCAST,
            67,
            dst_port,
            &[0; 300],
        )
    }

    #[test]
    fn accepts_udp_to_port_68_only() {
        assert_eq!(run(&DHCP_CLIENT_FILTER, &frame(68)), ACCEPT);
        assert_eq!(run(&DHCP_CLIENT_FILTER, &frame(67)), 0);
        let mut tcp = frame(68);
        tcp[23] = 6;
        assert_eq!(run(&DHCP_CLIENT_FILTER, &tcp), 0);
        let mut arp = frame(68);
        arp[12..14].copy_from_slice(&[8, 6]);
        assert_eq!(run(&DHCP_CLIENT_FILTER, &arp), 0);
        let mut fragment = frame(68);
        fragment[21] = 1;
        assert_eq!(run(&DHCP_CLIENT_FILTER, &fragment), 0);
        // IP options (IHL 6) move the UDP header; the filter follows.
        let mut f = frame(68);
        f[14] = 0x46;
        f.splice(34..34, [1, 1, 1, 1]);
        assert_eq!(run(&DHCP_CLIENT_FILTER, &f), ACCEPT);
        assert_eq!(run(&DHCP_CLIENT_FILTER, &f[..20]), 0);
    }
}
