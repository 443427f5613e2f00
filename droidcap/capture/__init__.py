"""Sans-IO capture layer: pcap/pcapng records → link layer → IP/TCP → reassembled byte streams.

Standard library only.  Feed bytes in, take events out; files, pipes and tests drive it alike.
"""
