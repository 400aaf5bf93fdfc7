# The CNB contract on top of a stack image: what the lifecycle and pack read from a build or run
# image (stack id and distro labels, the build user and its ids). Used as is on the real Scalingo
# stack images (builders/README.md) and on the stand-ins the project's tests make from Debian.
#   docker build -f builders/stack.Dockerfile --build-arg BASE=scalingo/scalingo-22:latest \
#     --build-arg STACK_ID=scalingo-22 --build-arg DISTRO_VERSION=22.04 -t <registry>/scalingo-22-cnb builders
ARG BASE
FROM ${BASE}
ARG STACK_ID
ARG DISTRO_VERSION
USER root
# uid/gid 1000, the CNB convention: the lifecycle builds as this user and the app runs as it.
RUN (getent group 1000 >/dev/null || groupadd --gid 1000 cnb) \
	&& (getent passwd 1000 >/dev/null || useradd --uid 1000 --gid 1000 --create-home --shell /bin/bash cnb)
LABEL io.buildpacks.stack.id="${STACK_ID}" \
	io.buildpacks.base.distro.name="ubuntu" \
	io.buildpacks.base.distro.version="${DISTRO_VERSION}"
ENV CNB_USER_ID=1000 CNB_GROUP_ID=1000 CNB_STACK_ID=${STACK_ID}
USER 1000:1000
