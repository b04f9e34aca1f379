//! CPU time per process, from /proc: the services by pid, PostgreSQL and RabbitMQ by
//! command name (all their processes), and the benchmark itself.

use std::collections::BTreeMap;

/// Clock ticks per second of /proc's `utime` and `stime` (Linux's USER_HZ).
const TICKS_PER_SECOND: f64 = 100.0;

/// CPU seconds (user + system) used so far by `pid`.
fn cpu_of(pid: &str) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name is in parentheses and may hold spaces: fields start after ')'.
    let rest = stat.rsplit_once(')')?.1;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // After ')': state is field 3 of the line, so utime (14) and stime (15) are 11 and 12.
    let utime: f64 = fields.get(11)?.parse().ok()?;
    let stime: f64 = fields.get(12)?.parse().ok()?;
    Some((utime + stime) / TICKS_PER_SECOND)
}

fn by_command(names: &[&str]) -> f64 {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return 0.0;
    };
    entries
        .filter_map(Result::ok)
        .filter_map(|e| e.file_name().into_string().ok())
        .filter(|pid| pid.bytes().all(|b| b.is_ascii_digit()))
        .filter(|pid| {
            std::fs::read_to_string(format!("/proc/{pid}/comm"))
                .is_ok_and(|comm| names.contains(&comm.trim()))
        })
        .filter_map(|pid| cpu_of(&pid))
        .sum()
}

/// CPU seconds per process group at one moment.
#[derive(Debug, Clone, Default)]
pub struct Snapshot(pub BTreeMap<String, f64>);

impl Snapshot {
    /// Reads the named pids, PostgreSQL, RabbitMQ and this process.
    pub fn take(services: &[(&str, Option<u32>)]) -> Self {
        let mut cpu = BTreeMap::new();
        for (name, pid) in services {
            if let Some(seconds) = pid.and_then(|p| cpu_of(&p.to_string())) {
                cpu.insert((*name).to_owned(), seconds);
            }
        }
        cpu.insert("postgresql".into(), by_command(&["postgres"]));
        cpu.insert(
            "rabbitmq".into(),
            by_command(&["beam.smp", "erl_child_setup", "epmd"]),
        );
        cpu.insert("bench (load + sink)".into(), cpu_of("self").unwrap_or(0.0));
        Self(cpu)
    }

    /// Milliseconds of CPU per post between `before` and this snapshot.
    pub fn per_post_since(&self, before: &Snapshot, posts: usize) -> Vec<(String, f64)> {
        self.0
            .iter()
            .map(|(name, now)| {
                let used = now - before.0.get(name).copied().unwrap_or(0.0);
                (name.clone(), used * 1000.0 / posts.max(1) as f64)
            })
            .collect()
    }
}
