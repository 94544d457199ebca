"""The calendar range query: compact entries for the calendar views."""
