"""The Qt-free tile engine: filters applied lazily, tile by tile, with exact halos."""
