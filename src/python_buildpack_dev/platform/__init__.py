"""What every engine shares, as a CNB platform provides it: the app's workspace on disk
(`workspace`: the app, layers, cache and platform dirs), image references that directory names
can make (`references`), OCI image layouts (`oci`), the build image and build user laid out on
this machine (`build_image`), the reference tools dev/setup builds (`tools`), and a build's
target, phases and result (`phases`).

May import: the buildpack (`python_buildpack`), the packager (`package/`). Never an engine.
"""
