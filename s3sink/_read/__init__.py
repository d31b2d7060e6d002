"""Reading objects back: ranged GETs in order, verification, restores of files and trees."""
