module hangar.local/pause

go 1.26
