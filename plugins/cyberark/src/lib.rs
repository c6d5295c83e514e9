//! Cordon provider plugin for CyberArk PVWA (work in progress).
