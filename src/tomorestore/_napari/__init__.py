"""napari contributions of tomorestore (reader, writer, sample data, widgets).

This is the only package of tomorestore that imports napari, Qt or magicgui. Its
modules are imported by napari on demand through ``tomorestore/napari.yaml``; they import
torch only inside functions.
"""
