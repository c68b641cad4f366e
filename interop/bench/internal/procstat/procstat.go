// Package procstat reads what the benchmark tools in interop/bench measure of a
// process from the operating system: its memory and CPU time, this process's own
// CPU time, and the load average. The readers use /proc and work on Linux only;
// elsewhere they return [errors.ErrUnsupported] (LoadAverage returns "unknown").
// [Usage] is what a process used during one measurement.
package procstat
