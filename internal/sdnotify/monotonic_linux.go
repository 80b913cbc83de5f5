package sdnotify

import (
	"strconv"

	"golang.org/x/sys/unix"
)

// reloadingState is "RELOADING=1" with the current CLOCK_MONOTONIC time in microseconds.
func reloadingState() string {
	var ts unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts); err != nil {
		return "RELOADING=1"
	}
	return "RELOADING=1\nMONOTONIC_USEC=" + strconv.FormatInt(ts.Nano()/1000, 10)
}
