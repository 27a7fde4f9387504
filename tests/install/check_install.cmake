# Installs svckit into a fresh prefix, builds tests/install/outside against it with
# find_package(svckit), runs the program and checks what it prints.
set(work ${BUILD_DIR}/install-check)
file(REMOVE_RECURSE ${work})

function(run)
  execute_process(COMMAND ${ARGV} RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "failed (${rc}): ${ARGV}\n${out}\n${err}")
  endif()
  set(last_output "${out}" PARENT_SCOPE)
endfunction()

run(${CMAKE_COMMAND} --install ${BUILD_DIR} --prefix ${work}/prefix)
if(NOT EXISTS ${work}/prefix/include/svckit/app/app.hpp)
  message(FATAL_ERROR "headers were not installed")
endif()
run(${CMAKE_COMMAND} -S ${SOURCE_DIR}/tests/install/outside -B ${work}/build -G Ninja
    -DCMAKE_PREFIX_PATH=${work}/prefix -DCMAKE_BUILD_TYPE=Release)
run(${CMAKE_COMMAND} --build ${work}/build)
run(${work}/build/outside)
if(NOT last_output MATCHES "matched /things/\\{id\\} id=42")
  message(FATAL_ERROR "unexpected output from the outside program: ${last_output}")
endif()
# The Python package, when built: importable from the installed site-packages.
if(PYTHON)
  file(GLOB_RECURSE init ${work}/prefix/*__init__.py)
  list(FILTER init INCLUDE REGEX "/svckit/__init__.py$")
  if(NOT init)
    message(FATAL_ERROR "the Python package svckit was not installed")
  endif()
  list(GET init 0 init)
  get_filename_component(package ${init} DIRECTORY)
  get_filename_component(site ${package} DIRECTORY)
  execute_process(COMMAND ${CMAKE_COMMAND} -E env PYTHONPATH=${site} ${PYTHON} -c
      "import svckit; assert svckit.__file__.startswith('${site}'); print(svckit.auth.Key.hmac('k' * 32).algorithm)"
      RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
  if(NOT rc EQUAL 0 OR NOT out MATCHES "HS256")
    message(FATAL_ERROR "the installed svckit does not import: ${out} ${err}")
  endif()
  message(STATUS "Python package installed and importable from ${site}")
endif()
message(STATUS "outside project built against the installed svckit: ${last_output}")
