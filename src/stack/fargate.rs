//! The CPU and memory pairs Fargate offers.

/// Memory choices (MiB) for a CPU size (units, 1024 = 1 vCPU): from, to, step.
const SIZES: [(u32, u32, u32, u32); 7] = [
    (256, 512, 2048, 512),
    (512, 1024, 4096, 1024),
    (1024, 2048, 8192, 1024),
    (2048, 4096, 16384, 1024),
    (4096, 8192, 30720, 1024),
    (8192, 16384, 61440, 4096),
    (16384, 32768, 122880, 8192),
];

/// Whether Fargate runs a task of this size; the error lists what the CPU size allows.
pub fn check_size(cpu_units: u32, memory_mib: u32) -> Result<(), String> {
    let Some((_, from, to, step)) = SIZES.iter().find(|(cpu, ..)| *cpu == cpu_units) else {
        return Err(format!(
            "cpu {cpu_units} is not a Fargate size; choose one of {}",
            SIZES
                .iter()
                .map(|(cpu, ..)| cpu.to_string())
                .collect::<Vec<_>>()
                .join(", ")
        ));
    };
    // 0.25 vCPU offers 512 MiB and then whole GB steps; the table's step covers the rest.
    let allowed = if cpu_units == 256 {
        memory_mib == 512
            || (memory_mib >= 1024 && memory_mib <= *to && memory_mib.is_multiple_of(1024))
    } else {
        memory_mib >= *from && memory_mib <= *to && (memory_mib - from).is_multiple_of(*step)
    };
    if allowed {
        Ok(())
    } else {
        Err(format!(
            "memory {memory_mib} MiB does not go with cpu {cpu_units} on Fargate: it takes {from} to {to} MiB in steps of {step}"
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_the_documented_pairs_and_rejects_others() {
        for (cpu, memory) in [
            (256, 512),
            (256, 2048),
            (512, 4096),
            (1024, 2048),
            (2048, 4096),
            (4096, 30720),
            (8192, 20480),
            (16384, 122880),
        ] {
            assert!(check_size(cpu, memory).is_ok(), "{cpu}/{memory}");
        }
        for (cpu, memory) in [
            (1024, 1024),
            (2048, 20480),
            (8192, 17408),
            (300, 1024),
            (256, 768),
        ] {
            assert!(check_size(cpu, memory).is_err(), "{cpu}/{memory}");
        }
    }
}
