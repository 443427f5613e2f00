"""Real RTMP lab: nginx-rtmp, publishers and players started by PID and cleaned up (see docs/lab.md)."""
