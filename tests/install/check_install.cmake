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
message(STATUS "outside project built against the installed svckit: ${last_output}")
