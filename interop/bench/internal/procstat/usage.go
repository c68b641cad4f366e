package procstat

import "time"

// Usage is what one process used during a measurement, read with [Usage.Begin] before and
// [Usage.End] after it; zero where that is not available (a failed read, or not Linux).
type Usage struct {
	CPU, User    time.Duration // CPU time (user + kernel) and user time during the measurement
	RSSBeforeKB  int64         // VmRSS before it
	RSSKB, HWMKB int64         // VmRSS and VmHWM (peak) after it

	cpuAtBegin, userAtBegin time.Duration
	beginErr                error
}

// Begin records the process's CPU times and memory at the start of the measurement.
func (u *Usage) Begin(pid int) {
	u.cpuAtBegin, u.userAtBegin, u.beginErr = CPU(pid)
	u.RSSBeforeKB, _, _ = Memory(pid)
}

// End sets the CPU times used since Begin and the memory now; it leaves them zero if either
// CPU reading failed.
func (u *Usage) End(pid int) {
	cpu, user, err := CPU(pid)
	if err != nil || u.beginErr != nil {
		return
	}
	u.CPU, u.User = cpu-u.cpuAtBegin, user-u.userAtBegin
	u.RSSKB, u.HWMKB, _ = Memory(pid)
}

// JSON is u in a benchmark's JSON report: cpu_s, user_s, rss_before_kb, rss_kb, hwm_kb.
func (u Usage) JSON() map[string]any {
	return map[string]any{
		"cpu_s": u.CPU.Seconds(), "user_s": u.User.Seconds(),
		"rss_before_kb": u.RSSBeforeKB, "rss_kb": u.RSSKB, "hwm_kb": u.HWMKB,
	}
}
